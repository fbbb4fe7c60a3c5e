import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { generateSet, type ImageSet } from '../../src/data/index.js';
import { initEngine } from '../../src/engine/backend.js';
import { exportBundle } from '../../src/export/bundle.js';
import { loadDetector, type Detector, type Prediction } from '../../src/export/loader.js';
import { buildScoreHistogram, HISTOGRAM_FILE, parseScoreHistogram, shareBelow, type ScoreHistogram } from '../../src/export/page/histogram.js';
import { contentType, serveBundle, type BundleServer } from '../../src/export/page/server.js';
import { validationHistogram } from '../../src/export/page/validation.js';
import { thresholdAtTpr } from '../../src/metrics/index.js';
import { readRun } from '../../src/run/folder.js';
import { encodePng } from '../../src/run/images.js';
import { chromiumMissing, openBrowser } from '../fixtures/browser.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';
import { expectAresError, runCli } from '../run/helpers.js';

/**
 * The bundle's try-it page (index.html) and `ares serve`: export writes the page and the
 * ID-validation histogram; the server serves only the bundle, on 127.0.0.1; in headless Chromium
 * a dropped digit gets its class, a noise image "unknown", with the same scores as Node.
 */
const REPO = resolve(import.meta.dirname, '..', '..');
mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'page-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const runDir = join(dir, 'run');
const bundleDir = join(dir, 'bundle');
const SCREENSHOT = process.env.ARES_PAGE_SCREENSHOT;

let run: TinyRun;
let known: { png: Buffer; label: string; node: Prediction };
let noise: { png: Buffer; node: Prediction };

/** Image i as the PNG holds it (8-bit), so Node scores exactly what the browser decodes. */
function quantised(set: ImageSet, i: number): tf.Tensor4D {
  const n = 28 * 28;
  return tf.tensor4d(Array.from(set.images.subarray(i * n, (i + 1) * n), (v) => Math.round(Math.min(1, Math.max(0, v)) * 255) / 255), [1, 28, 28, 1]);
}

async function nodeAnswer(d: Detector, set: ImageSet, i: number): Promise<Prediction> {
  const x = quantised(set, i);
  try { return (await d.predict(x))[0]; } finally { x.dispose(); }
}

/** GET/any request with a raw path (no client-side normalisation of '..'). */
function raw(url: string, path: string, opts: { method?: string; host?: string } = {}): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.host ? { host: opts.host } : {} }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => { body += c; });
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  // A smaller run than the export test's: this file needs one accepted digit and one rejected noise image.
  run = await buildTinyRun(runDir, { seed: 1, limit: 1000, epochs: 3 });
  await exportBundle(runDir, bundleDir);
  const d = await loadDetector(bundleDir);
  // The first held-in test digit the detector gets right and accepts, and the first noise image it rejects.
  for (let i = 0; i < run.data.test.count && !known; i++) {
    const p = await nodeAnswer(d, run.data.test, i);
    const label = run.data.classNames[run.data.test.labels![i]];
    if (p.accepted && p.label === label) known = { png: await encodePng(run.data.test, i), label, node: p };
  }
  const gauss = generateSet('gaussian', { shape: [28, 28, 1], count: 8, seed: 4242, split: 'test' });
  for (let i = 0; i < gauss.count && !noise; i++) {
    const p = await nodeAnswer(d, gauss, i);
    if (!p.accepted) noise = { png: await encodePng(gauss, i), node: p };
  }
  d.dispose();
  expect(known, 'a correctly accepted test digit').toBeDefined();
  expect(noise, 'a rejected noise image').toBeDefined();
});

describe('score histogram', () => {
  it('bins values over their range; shareBelow is exact at bin edges', () => {
    const values = Array.from({ length: 1000 }, (_, i) => Math.sin(i * 12.9898) * 3 + (i % 7));
    const h = buildScoreHistogram(values, { score: 'energy', gamma: 1, tpr: 0.95 }, 20);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(h.lo).toBe(Math.min(...values));
    expect(h.hi).toBe(Math.max(...values));
    const w = (h.hi - h.lo) / 20;
    for (const k of [0, 1, 7, 13, 20]) {
      const edge = h.lo + k * w;
      // Independent count; values sitting exactly on an edge are vanishingly unlikely here.
      const exact = values.filter((v) => v < edge).length / values.length;
      expect(shareBelow(h, edge)).toBeCloseTo(k === 20 ? 1 : exact, 9);
    }
    expect(shareBelow(h, h.lo - 5)).toBe(0);
    expect(shareBelow(h, h.hi + 5)).toBe(1);
    expect(parseScoreHistogram(JSON.parse(JSON.stringify(h)), 'h.json')).toEqual(h);
  });

  it('refuses malformed histograms and non-finite scores', async () => {
    const h = buildScoreHistogram([1, 2, 3], { score: 'msp', gamma: 2, tpr: 0.9 });
    await expectAresError(() => parseScoreHistogram({ ...h, count: 4 }, 'h.json'), 'h.json', 'not the sum of the bin counts');
    await expectAresError(() => parseScoreHistogram({ ...h, lo: 3, hi: 3 }, 'h.json'), 'lo < hi');
    await expectAresError(() => buildScoreHistogram([1, NaN], { score: 'msp', gamma: 1, tpr: 0.9 }), 'score 1 is not a finite number');
    // One distinct value still gives a drawable histogram.
    expect(buildScoreHistogram([2, 2], { score: 'msp', gamma: 2, tpr: 0.9 }).hi).toBeGreaterThan(2);
  });
});

describe('ares export writes the page', () => {
  it('index.html and the ID-validation histogram of the run', () => {
    expect(readdirSync(bundleDir)).toEqual(expect.arrayContaining(['index.html', HISTOGRAM_FILE]));
    const h = parseScoreHistogram(JSON.parse(readFileSync(join(bundleDir, HISTOGRAM_FILE), 'utf8')), HISTOGRAM_FILE);
    expect(h.count).toBe(run.data.val.count);
    expect(h.gamma).toBe(run.detector.threshold.gamma);
    expect(h.score).toBe('energy');
    // γ accepts 95% of these very scores, so about 5% lie below it (up to one bin's share).
    const maxBin = Math.max(...h.counts) / h.count;
    expect(Math.abs(shareBelow(h, h.gamma) - (1 - h.tpr))).toBeLessThanOrEqual(maxBin);
    const html = readFileSync(join(bundleDir, 'index.html'), 'utf8');
    expect(html).toContain(`"histogram":"${HISTOGRAM_FILE}"`);
    // Only the bundle's own files are referenced: no CDN script, stylesheet or font.
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
    const staticImports = [...html.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(new Set(staticImports)).toEqual(new Set(['./tf.fesm.min.js', './loader.js']));
  });

  it('a run without stored validation scores (or ones that do not give its γ) gets no histogram, and says why', async () => {
    const old = join(dir, 'old-run');
    cpSync(runDir, old, { recursive: true });
    const scoresFile = join(old, 'artifacts', 'scores.json');
    const scores = JSON.parse(readFileSync(scoresFile, 'utf8'));
    writeFileSync(scoresFile, JSON.stringify({ ...scores, val: scores.val.map((v: number) => v + 1) }));
    expect(validationHistogram(readRun(old)).note).toMatch(/give γ = .* the detector says/);
    delete scores.val;
    writeFileSync(scoresFile, JSON.stringify(scores));
    expect(validationHistogram(readRun(old)).note).toMatch(/stores no validation scores/);
    const out = join(dir, 'old-bundle');
    const r = await exportBundle(old, out);
    expect(r.notes).toHaveLength(1);
    expect(readdirSync(out)).toContain('index.html');
    expect(readdirSync(out)).not.toContain(HISTOGRAM_FILE);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('"histogram":null');
    // Sanity of the γ check itself: the fixture's stored scores reproduce its γ exactly.
    expect(thresholdAtTpr(JSON.parse(readFileSync(join(runDir, 'artifacts', 'scores.json'), 'utf8')).val, 0.95)).toBe(run.detector.threshold.gamma);
  });
});

describe('ares serve', () => {
  let server: BundleServer;
  beforeAll(async () => { server = await serveBundle(bundleDir, { port: 0 }); });
  afterAll(() => server?.close());

  it('serves the bundle on 127.0.0.1 with the right types', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const get = async (p: string) => raw(server.url, p);
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.type).toBe('text/html; charset=utf-8');
    expect(index.body).toBe(readFileSync(join(bundleDir, 'index.html'), 'latin1'));
    expect((await get('/loader.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get('/ares.json')).type).toBe('application/json; charset=utf-8');
    const weights = await get('/weights.bin');
    expect(weights.type).toBe('application/octet-stream');
    expect(weights.body.length).toBe(readFileSync(join(bundleDir, 'weights.bin')).length);
    expect(contentType('tfjs-backend-wasm-simd.wasm')).toBe('application/wasm');
    expect((await get('/missing.js')).status).toBe(404);
    expect((await raw(server.url, '/index.html', { method: 'HEAD' })).body).toBe('');
    expect((await raw(server.url, '/index.html', { method: 'POST' })).status).toBe(405);
    // Only requests addressed to a loopback name are answered (DNS rebinding), on any port (tunnels).
    expect((await raw(server.url, '/ares.json', { host: 'evil.example:80' })).status).toBe(421);
    expect((await raw(server.url, '/ares.json', { host: '127.0.0.1.evil.example' })).status).toBe(421);
    expect((await raw(server.url, '/ares.json', { host: 'localhost:9000' })).status).toBe(200);
  });

  it('never serves anything outside the bundle folder', async () => {
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'TOP SECRET');
    symlinkSync(secret, join(bundleDir, 'link.txt'));
    try {
      for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/link.txt', `/${'..%2f'.repeat(8)}etc/passwd`, '/%00', '/%E0%A4%A']) {
        const r = await raw(server.url, p);
        expect(r.status, p).toBeGreaterThanOrEqual(400);
        expect(r.body, p).not.toContain('TOP SECRET');
        expect(r.body, p).not.toContain('root:');
      }
    } finally {
      rmSync(join(bundleDir, 'link.txt'));
    }
  });

  it('names a folder that is not a bundle, and a port in use', async () => {
    await expectAresError(() => serveBundle(join(dir, 'nowhere')), 'bundle folder not found');
    await expectAresError(() => serveBundle(runDir), 'not an ares bundle (no ares.json)', runDir);
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
    const port = (busy.address() as { port: number }).port;
    try {
      await expectAresError(() => serveBundle(bundleDir, { port }), `port ${port} on 127.0.0.1 is already in use`);
    } finally {
      busy.close();
    }
  });

  it('CLI: prints the URL and serves; a non-bundle is a clear error', async () => {
    const bad = runCli(['serve', '--bundle', runDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ares: error: .*run: not an ares bundle/);
    expect(runCli(['serve', '--bundle', bundleDir, '--port', 'x']).code).not.toBe(0);
    const child = spawn(process.execPath, ['bin/ares.js', 'serve', '--bundle', bundleDir, '--port', '0'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = '';
        child.stdout.on('data', (c) => { out += c; const m = out.match(/at (http:\/\/127\.0\.0\.1:\d+\/)/); if (m) ok(m[1]); });
        child.on('exit', (code) => fail(new Error(`ares serve exited (${code}) before printing its URL: ${out}`)));
      });
      const res = await fetch(`${url}ares.json`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(run.detector);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe.skipIf(chromiumMissing)('the page in headless Chromium', () => {
  it('answers a dropped digit with its class and a noise image with unknown; the drawing pad answers too', async () => {
    const server = await serveBundle(bundleDir, { port: 0 });
    const { browser, page, problems } = await openBrowser({ width: 1100, height: 900 });
    const requested: string[] = [];
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    try {
      await page.goto(server.url);
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      // A real drop: a DataTransfer holding the PNG, dispatched on the drop zone.
      const dt = await page.evaluateHandle((bytes) => {
        const t = new DataTransfer();
        t.items.add(new File([new Uint8Array(bytes)], 'digit.png', { type: 'image/png' }));
        return t;
      }, Array.from(known.png));
      await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dt });
      await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
      await page.waitForSelector('.card[data-name="digit.png"]');
      // The file picker path.
      await page.setInputFiles('#files', { name: 'noise.png', mimeType: 'image/png', buffer: noise.png });
      await page.waitForSelector('.card[data-name="noise.png"]');
      const answer = async (name: string) => page.$eval(`.card[data-name="${name}"]`, (e) => ({
        label: (e as HTMLElement).dataset.label, score: Number((e as HTMLElement).dataset.score),
        shown: e.querySelector('.label')?.textContent, text: e.textContent, hist: !!e.querySelector('svg.hist'),
      }));
      const a = await answer('digit.png');
      const b = await answer('noise.png');
      expect(a.label).toBe(known.label);
      expect(a.shown).toBe(known.label);
      expect(b.label).toBe('unknown');
      expect(b.shown).toBe('unknown');
      expect(Math.abs(a.score - known.node.score)).toBeLessThanOrEqual(1e-3);
      expect(Math.abs(b.score - noise.node.score)).toBeLessThanOrEqual(1e-3);
      for (const c of [a, b]) {
        expect(c.hist).toBe(true);
        expect(c.text).toMatch(/γ/);
        expect(c.text).toMatch(/ID validation images/);
      }

      // 28×28 grey model: the drawing pad is there; a stroke is classified when the pen lifts.
      const box = (await page.locator('#pad').boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 12 });
      await page.mouse.up();
      await page.waitForSelector('.card[data-name="drawing"]');
      const drawn = await answer('drawing');
      expect([...run.data.classNames, 'unknown']).toContain(drawn.label);
      expect(Number.isFinite(drawn.score)).toBe(true);

      if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(problems).toEqual([]);
      expect(await page.$eval('#error', (e) => (e as HTMLElement).hidden)).toBe(true);
      // Nothing but the bundle's own files was fetched.
      expect(new Set(requested)).toEqual(new Set(['/', '/tf.fesm.min.js', '/loader.js', '/ares.json', '/model.json', '/weights.bin', `/${HISTOGRAM_FILE}`]));

      // A file that is not an image gets a card saying so, not an error.
      await page.setInputFiles('#files', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
      await page.waitForSelector('.card[data-name="notes.txt"]');
      expect(await page.$eval('.card[data-name="notes.txt"]', (e) => e.textContent)).toMatch(/not an image/);
      expect(problems).toEqual([]);

      // Opened as a file, the page says how to serve it instead of staying blank.
      await page.goto(pathToFileURL(join(bundleDir, 'index.html')).href);
      await page.waitForSelector('#error:not([hidden])');
      expect(await page.textContent('#error')).toMatch(/ares serve --bundle/);
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
