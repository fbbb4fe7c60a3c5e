/**
 * `ares predict`: image files → "class k" or "unknown" with the run's detector (threshold γ from
 * the run folder). Images are decoded like an image-folder data source (src/data: sharp, EXIF
 * orientation applied) and fitted to the model by the input contract with the run's `resize`
 * mode — the code the exported loader and page run too — so all three give one score per image.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeImage, probeImage } from '../data/image-decode.js';
import type { ResizeMode } from '../data/input-contract.js';
import { initEngine } from '../engine/backend.js';
import { createDetector, type Prediction } from '../export/predictor.js';
import type { DetectorSpec } from './detector.js';
import { readRun } from './folder.js';
import { listImageFiles } from './images.js';
import { loadRunModel } from './model-io.js';

export interface FilePrediction extends Prediction {
  file: string;
}

export interface PredictFilesOptions {
  /** Overrides the run's detector.json `resize` (crop, stretch or pad); rarely right: the model learnt with the run's. */
  resize?: ResizeMode;
  probabilities?: boolean;
  /** Images decoded and classified at a time. Default 64. */
  batchSize?: number;
}

export interface PredictFilesResult {
  run: string;
  detector: DetectorSpec;
  predictions: FilePrediction[];
}

/** Classifies every image in `inputs` (files, or folders of PNG/JPEG files) with the run at `runDir`. */
export async function predictFiles(runDir: string, inputs: string[], opts: PredictFilesOptions = {}): Promise<PredictFilesResult> {
  const run = readRun(runDir);
  const files = listImageFiles(inputs);
  await initEngine();
  const shape = run.detector.inputShape;
  const resize = opts.resize ?? run.detector.resize;
  const detector = createDetector(await loadRunModel(run.paths.model, run.detector), run.detector);
  const per = shape[0] * shape[1] * shape[2];
  const B = opts.batchSize ?? 64;
  const predictions: FilePrediction[] = [];
  try {
    for (let s = 0; s < files.length; s += B) {
      const chunk = files.slice(s, s + B);
      const pixels = new Float32Array(chunk.length * per);
      for (let i = 0; i < chunk.length; i++) {
        pixels.set(await decodeImage(chunk[i], shape, resize, await probeImage(chunk[i], { resized: true })), i * per);
      }
      const x = tf.tensor4d(pixels, [chunk.length, ...shape]);
      try {
        const preds = await detector.predict(x, { probabilities: opts.probabilities });
        preds.forEach((p, i) => predictions.push({ file: chunk[i], ...p }));
      } finally {
        x.dispose();
      }
    }
  } finally {
    detector.dispose();
  }
  return { run: run.dir, detector: run.detector, predictions };
}
