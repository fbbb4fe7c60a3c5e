import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { initEngine } from '../../src/engine/backend.js';
import { forwardBatchFor } from '../../src/eval/evaluate.js';
import { exportBundle } from '../../src/export/bundle.js';
import type { Detector, ImageDataLike, Prediction } from '../../src/export/loader.js';
import { fit } from '../../src/fit/fit.js';
import { predictFiles } from '../../src/run/predict.js';
import { NSFWJS_CLASSES, abstractImages, havePhotos, photos, writeNsfwjsModel, writeSmallCopies } from '../fixtures/nsfwjs.js';

/**
 * Real third-party models at their own size (nsfwjs's MobileNetV2, 224×224×3, uint8-quantised:
 * the Keras layers model and the converter's graph model) on real photos: `fit` at the defaults →
 * `predict` → `export` → the bundle's own Node build. predict and the bundle must give the same
 * answers, the run and the bundle must keep the user's weight files as shipped, and the forward
 * passes must be sized to the model (a fixed batch of 256 needs ~6 GB at 224×224).
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

/** The probe images as RGBA ImageData-like arrays, at the size they are stored (224×224: no resizing anywhere). */
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

beforeAll(async () => {
  if (!havePhotos()) return;
  await initEngine();
  // TODO(subset of classes): once fit accepts images for 2 of the model's 5 classes, keep only
  // Drawing (abstract renders) and Neutral (photos) here; until then every class has a folder
  // (the other three hold photos too: only the pipeline is under test, not the model's accuracy).
  const nature = photos(), drawings = abstractImages();
  await Promise.all(NSFWJS_CLASSES.map((c, k) => writeSmallCopies(
    c === 'Drawing' ? drawings : c === 'Neutral' ? nature.slice(0, 8) : nature.slice(2 + k, 8 + k), join(idDir, c))));
  // 224×224 probes: predict decodes them and the bundle takes their pixels, both without resizing.
  await writeSmallCopies([...nature.slice(8, 12), ...drawings.slice(0, 2)], probeDir, 224, 224);
}, 60_000);

async function fitPredictExport(model: 'mobilenet_v2' | 'mobilenet_v2_mid'): Promise<void> {
  const userDir = join(dir, `${model}-user`);
  const runDir = join(dir, `${model}-run`);
  const bundleDir = join(dir, `${model}-bundle`);
  writeNsfwjsModel(model, userDir);

  const fitted = await fit(join(userDir, 'model.json'), idDir, { out: runDir });
  try {
    expect(fitted.summary.inputShape).toEqual([224, 224, 3]);
    expect(fitted.summary.classes.classNames).toEqual([...NSFWJS_CLASSES]);
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

  const files = readdirSync(probeDir).sort().map((f) => join(probeDir, f));
  const predicted = (await predictFiles(runDir, files)).predictions;
  expect(predicted.map((p) => p.file)).toEqual(files);

  await exportBundle(runDir, bundleDir);
  // The bundle's model is the user's size (plus the detector description), not a float32 copy.
  const original = sizeOf(userDir, userFiles);
  const bundled = sizeOf(bundleDir, modelFiles(bundleDir)) + statSync(join(bundleDir, 'ares.json')).size;
  expect(bundled).toBeLessThanOrEqual(1.1 * original + statSync(join(bundleDir, 'ares.json')).size);
  for (const shard of userFiles.slice(1)) {
    expect(readFileSync(join(bundleDir, shard)).equals(readFileSync(join(userDir, shard))), `bundle ${shard}`).toBe(true);
  }

  const mod = await import(pathToFileURL(join(bundleDir, 'loader.node.js')).href);
  const d = await mod.loadDetector(bundleDir) as Detector;
  try {
    expectSameAnswers(await d.predict(await probeImages(files)), predicted);
  } finally {
    d.dispose();
  }
}

describe.skipIf(!havePhotos())('third-party models at their own size (nsfwjs MobileNetV2, 224×224, uint8 weights)', () => {
  it('layers model (Keras 2.2.4): fit at the defaults → predict → export → Node bundle, same answers, weights as shipped', async () => {
    await fitPredictExport('mobilenet_v2');
  }, 240_000);

  it('graph model (TF.js Converter 1.7.4, _FusedMatMul): fit → predict → export → Node bundle, same answers', async () => {
    await fitPredictExport('mobilenet_v2_mid');
  }, 240_000);
});
