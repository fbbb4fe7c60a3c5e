import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodePixels } from '../../src/data/image-decode.js';
import type { ResizeMode } from '../../src/data/input-contract.js';
import { initEngine } from '../../src/engine/backend.js';
import { exportBundle } from '../../src/export/bundle.js';
import type { Prediction } from '../../src/export/loader.js';
import { DETECTOR_VERSION, type DetectorSpec } from '../../src/run/detector.js';
import { writeRun } from '../../src/run/folder.js';
import { predictFiles } from '../../src/run/predict.js';
import { chromiumMissing, openBrowser } from '../fixtures/browser.js';
import { buildTinyModel } from '../fixtures/tiny-model.js';
import { runCli } from '../run/helpers.js';

/**
 * One preprocessing everywhere: the same photos (non-square, several sizes, upscaled and
 * downscaled, grey, with transparent pixels, JPEG, an EXIF-rotated JPEG) get the same scores from
 * `ares predict` (library and CLI), the exported Node loader (loader.node.js) and the exported page
 * in headless Chromium, for each resize mode. A 32×32×3 model keeps it fast.
 *
 * Tolerance 1e-4 on scores for all files, JPEGs included: Node hands sharp's decoding and the page
 * the browser's to the same resize code, and both decoders are libjpeg-turbo, which measured equal
 * here; what is left is float32 rounding of different tfjs backends on one dense layer.
 */
const PHOTOS = '/usr/share/backgrounds/mate/nature';
const REPO = resolve(import.meta.dirname, '..', '..');
const TOL = 1e-4;
const MODES: ResizeMode[] = ['crop', 'stretch', 'pad'];

mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'preprocessing-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const imagesDir = join(dir, 'images');
const runDir = (m: ResizeMode) => join(dir, `run-${m}`);
const bundleDir = (m: ResizeMode) => join(dir, `bundle-${m}`);

type Scores = Map<string, { label: string; score: number }>;
const files: string[] = [];
const library = new Map<ResizeMode, Scores>();

const photo = (name: string) => sharp(join(PHOTOS, name));

/** The test images, made from the stock photos: name → how. */
async function writeImages(): Promise<void> {
  mkdirSync(imagesDir, { recursive: true });
  const out = (name: string) => { const f = join(imagesDir, name); files.push(f); return f; };
  await photo('Aqua.jpg').resize(97, 61, { fit: 'fill' }).png().toFile(out('wide-97x61.png'));
  await photo('Dune.jpg').resize(45, 80, { fit: 'fill' }).png().toFile(out('tall-45x80.png'));
  await photo('LadyBird.jpg').resize(24, 17, { fit: 'fill' }).png().toFile(out('small-24x17.png'));
  await photo('Garden.jpg').resize(32, 32, { fit: 'fill' }).png().toFile(out('exact-32x32.png'));
  await photo('Storm.jpg').resize(70, 50, { fit: 'fill' }).greyscale().png().toFile(out('grey-70x50.png'));
  // Left third fully transparent over bright pixels: both sides must see black there.
  const { data, info } = await photo('FreshFlower.jpg').resize(60, 40, { fit: 'fill' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let y = 0; y < 40; y++) for (let x = 0; x < 20; x++) data[(y * 60 + x) * 4 + 3] = 0;
  await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toFile(out('transparent-60x40.png'));
  await photo('TwoWings.jpg').resize(120, 80, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(out('photo-120x80.jpg'));
  // Stored 100×70, shown (and decoded, everywhere) 70×100.
  await photo('RainDrops.jpg').resize(100, 70, { fit: 'fill' }).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toFile(out('exif-rotated.jpg'));
  await photo('RainDrops.jpg').resize(100, 70, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(join(dir, 'not-rotated.jpg'));
}

/** A run folder per resize mode around the same untrained 32×32×3 model, and its bundle. */
async function writeRuns(): Promise<void> {
  const m = buildTinyModel([32, 32, 3], 3, 7, 16);
  for (const resize of MODES) {
    const detector: DetectorSpec = {
      version: DETECTOR_VERSION, classNames: ['sea', 'sand', 'leaf'], inputShape: [32, 32, 3], resize,
      normalization: { mean: [0.45, 0.42, 0.38], std: [0.27, 0.26, 0.28] },
      score: { name: 'energy', weights: null }, threshold: { gamma: 1.2, tpr: 0.95, on: 'id-validation' },
    };
    await writeRun(runDir(resize), { config: { method: 'fixture: untrained dense 32x32x3', resize }, model: m.model, detector, thresholdCount: 100 });
    await exportBundle(runDir(resize), bundleDir(resize));
  }
  m.model.dispose();
}

function expectSame(got: Scores, want: Scores, where: string): void {
  expect([...got.keys()].sort(), where).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    if (process.env.ARES_SHOW_DIFFS) console.log(`${where} ${name} ${g.score} ${w.score} ${Math.abs(g.score - w.score).toExponential(2)}`);
    expect(Math.abs(g.score - w.score), `${where}: ${name} (${g.score} vs ${w.score})`).toBeLessThanOrEqual(TOL);
    expect(g.label, `${where}: ${name}`).toBe(w.label);
  }
}

const scoresOf = (preds: (Pick<Prediction, 'label' | 'score'> & { file: string })[]): Scores =>
  new Map(preds.map((p) => [basename(p.file), { label: p.label, score: p.score }]));

describe.skipIf(!existsSync(PHOTOS))('the same scores from ares predict, the Node bundle and the page', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'cpu' });
    await writeImages();
    await writeRuns();
    for (const m of MODES) library.set(m, scoresOf((await predictFiles(runDir(m), files)).predictions));
  }, 120_000);

  it('the resize mode matters for these images, and EXIF orientation is applied', async () => {
    // Otherwise the equalities below would hold even for a surface that ignored the mode.
    const crop = library.get('crop')!, stretch = library.get('stretch')!, pad = library.get('pad')!;
    for (const name of ['wide-97x61.png', 'tall-45x80.png', 'exif-rotated.jpg']) {
      expect(Math.abs(crop.get(name)!.score - stretch.get(name)!.score), name).toBeGreaterThan(100 * TOL);
      expect(Math.abs(crop.get(name)!.score - pad.get(name)!.score), name).toBeGreaterThan(100 * TOL);
    }
    // A 32×32 image is not resized at all.
    expect(crop.get('exact-32x32.png')!.score).toBe(stretch.get('exact-32x32.png')!.score);
    const unrotated = (await predictFiles(runDir('crop'), [join(dir, 'not-rotated.jpg')])).predictions[0];
    expect(Math.abs(unrotated.score - crop.get('exif-rotated.jpg')!.score)).toBeGreaterThan(100 * TOL);
  });

  it('ares predict on the command line follows the run\'s detector.json', () => {
    for (const m of ['crop', 'pad'] as const) {
      const r = runCli(['predict', '--run', runDir(m), '--json', imagesDir], { ARES_THREADS: '1' });
      expect(r.code, r.stderr).toBe(0);
      expectSame(scoresOf(JSON.parse(r.stdout).predictions), library.get(m)!, `CLI ${m}`);
    }
    // --resize overrides the run's mode.
    const r = runCli(['predict', '--run', runDir('crop'), '--resize', 'stretch', '--json', imagesDir], { ARES_THREADS: '1' });
    expect(r.code, r.stderr).toBe(0);
    expectSame(scoresOf(JSON.parse(r.stdout).predictions), library.get('stretch')!, 'CLI crop run with --resize stretch');
    // The option's earlier name and values still work: --fit fill = --resize stretch.
    const old = runCli(['predict', '--run', runDir('crop'), '--fit', 'fill', '--json', imagesDir], { ARES_THREADS: '1' });
    expect(old.code, old.stderr).toBe(0);
    expectSame(scoresOf(JSON.parse(old.stdout).predictions), library.get('stretch')!, 'CLI crop run with --fit fill');
  }, 120_000);

  it('the exported Node loader, given the images as decoded pixels (ImageData-like) or as tensors', async () => {
    for (const m of MODES) {
      expect(JSON.parse(readFileSync(join(bundleDir(m), 'ares.json'), 'utf8')).resize).toBe(m);
      const mod = await import(pathToFileURL(join(bundleDir(m), 'loader.node.js')).href);
      const d = await mod.loadDetector(bundleDir(m));
      try {
        const preds: (Prediction & { file: string })[] = [];
        for (const f of files) {
          const img = await decodePixels(f);
          const [p] = await d.predict(img);
          preds.push({ ...p, file: f });
          // A [H, W, C] tensor of [0, 1] pixels goes through the same contract.
          const c = img.data.length / (img.width * img.height);
          const x = tf.tensor3d(Float32Array.from(img.data, (v) => v / 255), [img.height, img.width, c]);
          try {
            const [q] = await d.predict(x);
            expect(Math.abs(q.score - p.score), `${m} tensor ${basename(f)}`).toBeLessThanOrEqual(TOL);
          } finally {
            x.dispose();
          }
        }
        expectSame(scoresOf(preds), library.get(m)!, `Node bundle ${m}`);
      } finally {
        d.dispose();
      }
    }
  }, 120_000);

  it.skipIf(chromiumMissing)('the page in headless Chromium (files chosen in its picker)', async () => {
    const { serveBundle } = await import('../../src/export/page/server.js');
    const { browser, page, problems } = await openBrowser();
    try {
      for (const m of MODES) {
        const server = await serveBundle(bundleDir(m), { port: 0 });
        try {
          await page.goto(server.url);
          await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
          // The page says how it fits other sizes.
          expect(await page.textContent('#meta')).toContain({ crop: 'centre cropped', stretch: 'stretched', pad: 'black margins' }[m]);
          await page.setInputFiles('#files', files);
          await page.waitForFunction((n) => document.querySelectorAll('.card').length === n, files.length, { timeout: 60_000 });
          const cards = await page.$$eval('.card', (es) => es.map((e) => ({ name: (e as HTMLElement).dataset.name!, label: (e as HTMLElement).dataset.label!, score: Number((e as HTMLElement).dataset.score) })));
          expectSame(new Map(cards.map((c) => [c.name, { label: c.label, score: c.score }])), library.get(m)!, `page ${m}`);
          // The thumbnail is what the model sees: the model's size, not the file's.
          expect(await page.$eval('.card[data-name="tall-45x80.png"] canvas.thumb', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([32, 32]);
        } finally {
          await server.close();
        }
      }
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
