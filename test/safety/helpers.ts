import { execFile } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createDeflate, crc32, gzipSync } from 'node:zlib';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface MeasuredRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the CLI process, in MiB (null when it died before reporting). */
  peakRssMiB: number | null;
  /** User + system CPU seconds of the CLI process. */
  cpuSeconds: number | null;
  wallSeconds: number;
  /** True when the run was killed for passing the wall-clock limit (a hang). */
  killed: boolean;
}

/**
 * Runs `node bin/ares.js ...args` with a preload that, on exit, writes the process's own
 * resourceUsage (peak RSS, CPU time) to a file: measured inside the child, so it needs no
 * /usr/bin/time and counts sharp's native memory too. A run past `killAfterS` seconds is killed
 * (SIGKILL) and reported as `killed`: the hang cases fail instead of blocking the suite.
 */
export function runCliMeasured(dir: string, args: string[], killAfterS = 60): Promise<MeasuredRun> {
  const preload = join(dir, 'rusage-preload.mjs');
  writeFileSync(preload, [
    "import { writeFileSync } from 'node:fs';",
    "process.on('exit', () => {",
    '  const u = process.resourceUsage();',
    '  writeFileSync(process.env.ARES_TEST_RUSAGE_FILE, JSON.stringify({ maxRssKiB: u.maxRSS, cpuUs: u.userCPUTime + u.systemCPUTime }));',
    '});',
  ].join('\n'));
  const usageFile = join(dir, `rusage-${process.pid}-${Date.now()}.json`);
  const t0 = performance.now();
  return new Promise((res) => {
    execFile(process.execPath, ['--import', pathToFileURL(preload).href, join(ROOT, 'bin/ares.js'), ...args], {
      cwd: ROOT, env: { ...process.env, ARES_THREADS: '1', ARES_TEST_RUSAGE_FILE: usageFile }, maxBuffer: 16 << 20,
      timeout: killAfterS * 1000, killSignal: 'SIGKILL',
    }, (err, stdout, stderr) => {
      let usage: { maxRssKiB: number; cpuUs: number } | null = null;
      try { usage = JSON.parse(readFileSync(usageFile, 'utf8')); } catch { /* died without reporting */ }
      rmSync(usageFile, { force: true });
      const e = err as (Error & { code?: number | string; killed?: boolean; signal?: string }) | null;
      res({
        code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr,
        peakRssMiB: usage ? usage.maxRssKiB / 1024 : null, cpuSeconds: usage ? usage.cpuUs / 1e6 : null,
        wallSeconds: (performance.now() - t0) / 1000, killed: Boolean(e?.killed || e?.signal === 'SIGKILL'),
      });
    });
  });
}

/**
 * A gzip file of `members` gzip members: first `head`, then `zeroMembers` members of `zeroMiB` MiB
 * of zero bytes each (a valid multi-member gzip stream, as gunzip reads it). The zero member is
 * compressed once and repeated, so a 2 GiB bomb costs a 2 MB file and half a second to make.
 */
export function writeGzipBomb(file: string, head: Uint8Array, zeroMiB: number, zeroMembers: number): Promise<void> {
  const zeros = gzipSync(Buffer.alloc(zeroMiB * 1024 * 1024), { level: 9 });
  mkdirSync(dirname(file), { recursive: true });
  const out = createWriteStream(file);
  out.write(gzipSync(head));
  for (let i = 0; i < zeroMembers; i++) out.write(zeros);
  return new Promise((res, rej) => { out.on('error', rej); out.end(res); });
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/**
 * A black RGB PNG of width × height, written without ever holding its pixels: rows of zeros go
 * through one streaming deflate (10000×10000 takes a quarter of a second and ~1.3 MB on disk).
 */
export async function writeBlackPng(file: string, width: number, height: number): Promise<void> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const deflate = createDeflate({ level: 1 });
  const parts: Buffer[] = [];
  deflate.on('data', (c: Buffer) => parts.push(c));
  const ended = new Promise((res) => deflate.on('end', res));
  const rowsPerWrite = 64;
  const block = Buffer.alloc((1 + width * 3) * rowsPerWrite); // filter byte 0 + zero pixels per row
  for (let y = 0; y < height; y += rowsPerWrite) {
    const rows = Math.min(rowsPerWrite, height - y);
    if (!deflate.write(block.subarray(0, (1 + width * 3) * rows))) await new Promise((res) => deflate.once('drain', res));
  }
  deflate.end();
  await ended;
  mkdirSync(dirname(file), { recursive: true });
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  writeFileSync(file, Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.concat(parts)), pngChunk('IEND', new Uint8Array(0))]));
}
