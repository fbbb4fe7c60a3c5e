import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { initEngine } from '../../src/engine/backend.js';
import { forwardBatchFor } from '../../src/eval/evaluate.js';
import { exportBundle } from '../../src/export/bundle.js';
import type { Detector, ImageDataLike, Prediction } from '../../src/export/loader.js';
import { fit } from '../../src/fit/fit.js';
import { chromiumMissing, openBrowser } from '../fixtures/browser.js';
import { runCli } from '../run/helpers.js';
import { NSFWJS_CLASSES, abstractImages, havePhotos, photos, writeNsfwjsModel, writeSmallCopies } from '../fixtures/nsfwjs.js';

/**
 * Real third-party models at their own size (nsfwjs's MobileNetV2, 224×224×3, uint8-quantised:
 * the Keras layers model and the converter's graph model) on real photos: `fit` at the defaults →
 * `ares predict` → `export` → the bundle's own Node build and its page in headless Chromium, with
 * images for only 2 of the model's 5 classes, and again on an unlabelled folder. The CLI, the Node
 * bundle and the page must give the same scores for the same non-square photos, the run and the
 * bundle must keep the user's weight files as shipped, and the forward passes must be sized to the
 * model (a fixed batch of 256 needs ~6 GB at 224×224).
 */
const REPO = resolve(import.meta.dirname, '..', '..');
// Inside the repository (git-ignored tmp/) so the bundle's Node build can resolve @tensorflow/tfjs.
mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'third-party-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const idDir = join(dir, 'id');
const probeDir = join(dir, 'probe');

const modelFiles = (d: string) => {
  const m = JSON.parse(readFileSync(join(d, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  return ['model.json', ...m.weightsManifest.flatMap((g) => g.paths)];
};
const sizeOf = (d: string, files: string[]) => files.reduce((n, f) => n + statSync(join(d, f)).size, 0);

/** The probe images as RGBA ImageData-like arrays, at the size they are stored (the loader fits them to the model). */
async function probeImages(files: string[]): Promise<ImageDataLike[]> {
  return Promise.all(files.map(async (f) => {
    const { data, info } = await sharp(f).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8ClampedArray(data) };
  }));
}

function expectSameAnswers(got: Prediction[], want: Prediction[]): void {
  expect(got.map((p) => p.label)).toEqual(want.map((p) => p.label));
  got.forEach((p, i) => expect(Math.abs(p.score - want[i].score), `image ${i}`).toBeLessThan(1e-4));
}

const unlabelledDir = join(dir, 'unlabelled');
const indexedIdDir = join(dir, 'id-by-index');

beforeAll(async () => {
  if (!havePhotos()) return;
  await initEngine();
  // Images for 2 of the model's 5 classes only (what a user has): Drawing (abstract renders) and
  // Neutral (photos); Hentai, Porn and Sexy stay known-but-unseen outputs.
  const nature = photos(), drawings = abstractImages();
  await writeSmallCopies(drawings, join(idDir, 'Drawing'));
  await writeSmallCopies(nature.slice(0, 8), join(idDir, 'Neutral'));
  // Without a metadata.json naming the outputs, class folders are named by output index instead.
  await writeSmallCopies(drawings, join(indexedIdDir, '0'));
  await writeSmallCopies(nature.slice(0, 8), join(indexedIdDir, '2'));
  // The same kind of images with no labels at all: a flat folder.
  await writeSmallCopies([...nature.slice(0, 6), ...drawings.slice(0, 4)], unlabelledDir);
  // Non-square probes of several sizes, PNG and JPEG: every surface decodes them at their own
  // size and fits them to 224×224 by the one input contract.
  mkdirSync(probeDir, { recursive: true });
  const sizes: [number, number][] = [[320, 200], [180, 260], [500, 281]];
  await Promise.all([...nature.slice(8, 11), ...drawings.slice(0, 2)].map((f, i) => {
    const [w, h] = sizes[i % sizes.length];
    const img = sharp(f).resize(w, h, { fit: 'fill' }).removeAlpha();
    return i % 2 === 0 ? img.jpeg({ quality: 90 }).toFile(join(probeDir, `probe-${i}-${w}x${h}.jpg`)) : img.png().toFile(join(probeDir, `probe-${i}-${w}x${h}.png`));
  }));
}, 60_000);

/** Scores within 1e-4 of the reference (relative to the score's size when that is larger than 1: the page's backend sums in another order). */
function expectSameScores(got: Map<string, { label: string; score: number }>, want: Prediction[], what: string): void {
  expect(got.size, what).toBe(want.length);
  for (const p of want) {
    const g = got.get(basename(p.file!));
    expect(g, `${what}: ${p.file}`).toBeDefined();
    expect(g!.label, `${what}: ${p.file}`).toBe(p.label);
    expect(Math.abs(g!.score - p.score), `${what}: ${p.file} (${g!.score} vs ${p.score})`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(p.score)));
  }
}

/** The bundle's page in headless Chromium, the probe files chosen in its picker: label and score per file name. */
async function pageAnswers(bundleDir: string, files: string[]): Promise<Map<string, { label: string; score: number }>> {
  const { serveBundle } = await import('../../src/export/page/server.js');
  const { browser, page, problems } = await openBrowser();
  try {
    const server = await serveBundle(bundleDir, { port: 0 });
    try {
      await page.goto(server.url);
      await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
      await page.setInputFiles('#files', files);
      await page.waitForFunction((n) => document.querySelectorAll('.card').length === n, files.length, { timeout: 120_000 });
      const cards = await page.$$eval('.card', (es) => es.map((e) => ({ name: (e as HTMLElement).dataset.name!, label: (e as HTMLElement).dataset.label!, score: Number((e as HTMLElement).dataset.score) })));
      expect(problems).toEqual([]);
      return new Map(cards.map((c) => [c.name, { label: c.label, score: c.score }]));
    } finally {
      await server.close();
    }
  } finally {
    await browser.close();
  }
}

async function fitPredictExport(model: 'mobilenet_v2' | 'mobilenet_v2_mid'): Promise<void> {
  const userDir = join(dir, `${model}-user`);
  const runDir = join(dir, `${model}-run`);
  const bundleDir = join(dir, `${model}-bundle`);
  writeNsfwjsModel(model, userDir);
  // The layers model gets its output names the way a user would give them (a metadata.json with
  // "labels", as Teachable Machine writes); the graph model goes without, its folders named by index.
  const named = model === 'mobilenet_v2';
  if (named) writeFileSync(join(userDir, 'metadata.json'), JSON.stringify({ labels: NSFWJS_CLASSES }));

  const fitted = await fit(join(userDir, 'model.json'), named ? idDir : indexedIdDir, { out: runDir });
  try {
    expect(fitted.summary.inputShape).toEqual([224, 224, 3]);
    if (named) expect(fitted.summary.classes.classNames).toEqual([...NSFWJS_CLASSES]);
    // The three classes without images stay known outputs, and the run folder says so.
    expect(fitted.summary.unseenClasses?.answer).toBe('known');
    expect(fitted.summary.unseenClasses?.classes).toEqual([1, 3, 4]); // Hentai, Porn, Sexy
    // Sized to the model: far below the 256 small models get (~25 MB of activations per image).
    const batch = forwardBatchFor(fitted.classifier);
    expect(batch).toBeGreaterThanOrEqual(1);
    expect(batch).toBeLessThan(64);
  } finally {
    fitted.dispose();
  }

  // The run keeps the user's weight files byte for byte, quantisation entries included.
  const userFiles = modelFiles(userDir);
  for (const shard of userFiles.slice(1)) {
    expect(readFileSync(join(runDir, 'model', shard)).equals(readFileSync(join(userDir, shard))), shard).toBe(true);
  }
  const runJson = JSON.parse(readFileSync(join(runDir, 'model', 'model.json'), 'utf8')) as { weightsManifest: { weights: { quantization?: { dtype: string } }[] }[] };
  const entries = runJson.weightsManifest.flatMap((g) => g.weights);
  expect(entries.length).toBeGreaterThan(0);
  expect(entries.every((w) => w.quantization?.dtype === 'uint8')).toBe(true);

  // The CLI's answers on the non-square probes are the reference.
  const files = readdirSync(probeDir).sort().map((f) => join(probeDir, f));
  const cli = runCli(['predict', '--run', runDir, '--json', ...files], {}, 200_000);
  expect(cli.stderr).toBe('');
  expect(cli.code).toBe(0);
  const predicted = (JSON.parse(cli.stdout) as { predictions: Prediction[] }).predictions;
  expect(predicted.map((p) => p.file)).toEqual(files);

  await exportBundle(runDir, bundleDir);
  // The bundle's model is the user's size (plus the detector description), not a float32 copy.
  const original = sizeOf(userDir, userFiles);
  const bundled = sizeOf(bundleDir, modelFiles(bundleDir)) + statSync(join(bundleDir, 'ares.json')).size;
  expect(bundled).toBeLessThanOrEqual(1.1 * original + statSync(join(bundleDir, 'ares.json')).size);
  for (const shard of userFiles.slice(1)) {
    expect(readFileSync(join(bundleDir, shard)).equals(readFileSync(join(userDir, shard))), `bundle ${shard}`).toBe(true);
  }

  // The Node bundle, given each photo's pixels at the photo's own size.
  const mod = await import(pathToFileURL(join(bundleDir, 'loader.node.js')).href);
  const d = await mod.loadDetector(bundleDir) as Detector;
  try {
    const got = await d.predict(await probeImages(files));
    expectSameScores(new Map(got.map((p, i) => [basename(files[i]), { label: p.label, score: p.score }])), predicted, 'Node bundle');
  } finally {
    d.dispose();
  }
  if (!chromiumMissing) expectSameScores(await pageAnswers(bundleDir, files), predicted, 'page');

  // An unlabelled folder: the model's own predictions are the labels, and no accuracy is claimed.
  const unlabelledRun = join(dir, `${model}-unlabelled-run`);
  const u = await fit(join(userDir, 'model.json'), unlabelledDir, { out: unlabelledRun });
  try {
    expect(u.summary.classes.by).toBe('model-predictions');
    expect(u.summary.idAccuracy).toBeNull();
    expect(JSON.parse(readFileSync(join(unlabelledRun, 'config.json'), 'utf8')).idLabels).toBe('model-predictions');
  } finally {
    u.dispose();
  }
}

describe.skipIf(!havePhotos())('third-party models at their own size (nsfwjs MobileNetV2, 224×224, uint8 weights)', () => {
  it('layers model (Keras 2.2.4): fit at the defaults on 2 of 5 classes → CLI predict → export → Node bundle and page, same scores, weights as shipped; and on an unlabelled folder', async () => {
    await fitPredictExport('mobilenet_v2');
  }, 900_000);

  it('graph model (TF.js Converter 1.7.4, _FusedMatMul): the same', async () => {
    await fitPredictExport('mobilenet_v2_mid');
  }, 900_000);
});
