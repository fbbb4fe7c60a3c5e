import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { AresError } from '../../src/errors.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A fresh temp folder; call the returned cleanup in afterAll. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ares-data-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeFile(path: string, data: string | Uint8Array): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  return path;
}

const IDX_CODES = { ubyte: 0x08, byte: 0x09, short: 0x0b, int: 0x0c, float: 0x0d, double: 0x0e } as const;
const IDX_SIZES = { ubyte: 1, byte: 1, short: 2, int: 4, float: 4, double: 8 } as const;

/** IDX bytes exactly as published: 00 00 type ndims, big-endian uint32 dims, big-endian values. */
export function idxBytes(dims: number[], values: ArrayLike<number>, dtype: keyof typeof IDX_CODES = 'ubyte'): Uint8Array {
  const size = IDX_SIZES[dtype];
  const buf = new Uint8Array(4 + 4 * dims.length + values.length * size);
  const view = new DataView(buf.buffer);
  buf[2] = IDX_CODES[dtype];
  buf[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const o = 4 + 4 * dims.length;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (dtype === 'ubyte') view.setUint8(o + i, v);
    else if (dtype === 'byte') view.setInt8(o + i, v);
    else if (dtype === 'short') view.setInt16(o + 2 * i, v, false);
    else if (dtype === 'int') view.setInt32(o + 4 * i, v, false);
    else if (dtype === 'float') view.setFloat32(o + 4 * i, v, false);
    else view.setFloat64(o + 8 * i, v, false);
  }
  return buf;
}

export const gz = (b: Uint8Array): Uint8Array => new Uint8Array(gzipSync(b));

/**
 * One CIFAR record in the published layout: label byte(s), then 1024 R, 1024 G, 1024 B bytes.
 * pixel(p, ch) gives the byte at row-major position p of channel ch.
 */
export function cifarRecord(labels: number[], pixel: (p: number, ch: number) => number): Uint8Array {
  const rec = new Uint8Array(labels.length + 3072);
  rec.set(labels, 0);
  for (let ch = 0; ch < 3; ch++) for (let p = 0; p < 1024; p++) rec[labels.length + ch * 1024 + p] = pixel(p, ch) & 255;
  return rec;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs `node bin/ares.js ...args` and resolves with its exit code and output (never rejects). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((res) => {
    execFile(process.execPath, [join(ROOT, 'bin/ares.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

/** Awaits `p` and checks it fails with an AresError whose message matches every pattern. */
export async function expectAresError(p: Promise<unknown> | (() => unknown), ...patterns: RegExp[]): Promise<AresError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an AresError').toBeInstanceOf(AresError);
  const e = err as AresError;
  for (const re of patterns) expect(e.message).toMatch(re);
  expect(e.exitCode).toBe(1);
  return e;
}
