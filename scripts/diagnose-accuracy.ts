/**
 * Where does an Escape-trained model lose ID accuracy? For each finished run folder it measures, on
 * ID data only (training images and the ID validation split; no OOD set, no test image):
 *   - clean train accuracy (the training images without PixMix: is the model underfitting them?),
 *   - ID validation accuracy as trained,
 *   - ID validation accuracy after re-estimating the batch-norm running statistics on clean
 *     training images (a model trained on PixMix'ed batches keeps the statistics of mixed images;
 *     if that mismatch were the cause, this would recover the gap),
 *   - the mean validation-OOD FPR95 (energy score with the run's weights) before and after that
 *     re-estimation: what the fix would cost the detector.
 *   npx tsx scripts/diagnose-accuracy.ts <run-dir> [<run-dir> ...]
 */
import * as tf from '@tensorflow/tfjs';
import { batches, type ImageSet } from '../src/data/index.js';
import { initEngine } from '../src/engine/backend.js';
import { evaluate, forwardSet } from '../src/eval/evaluate.js';
import { loadRun } from '../src/pipeline/load-run.js';
import { prepareForConfig } from '../src/pipeline/train-run.js';

await initEngine();

function accuracyOf(out: ReturnType<typeof forwardSet>): number {
  const { data, rows, cols } = out.logits;
  let correct = 0;
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let k = 1; k < cols; k++) if (data[i * cols + k] > data[i * cols + best]) best = k;
    if (best === out.labels![i]) correct++;
  }
  return correct / rows;
}

const head = (s: ImageSet, n: number): ImageSet => {
  const m = Math.min(n, s.count), size = s.shape[0] * s.shape[1] * s.shape[2];
  return { ...s, count: m, images: s.images.subarray(0, m * size), labels: s.labels!.subarray(0, m) };
};

const pct = (v: number) => (100 * v).toFixed(2);
console.log('| run | method | clean train acc. | val acc. (as trained) | val acc. (BN re-estimated on clean train) | mean val. FPR95 (as trained) | mean val. FPR95 (BN re-estimated) |');
console.log('|---|---|---|---|---|---|---|');
function meanValFpr(run: Awaited<ReturnType<typeof loadRun>>, data: Awaited<ReturnType<typeof prepareForConfig>>): number {
  const s = run.detector.score;
  const w = s.name === 'energy' ? s.weights : null;
  const e = evaluate(run.model, { ...data, ood: [] }, { scores: ['energy'], energyWeights: w ? Float32Array.from(w) : null });
  return e.valOod.reduce((a, r) => a + r.metrics.fpr, 0) / e.valOod.length;
}
for (const dir of process.argv.slice(2)) {
  const run = await loadRun(dir);
  const data = await prepareForConfig({ ...run.config, ood: [] });
  const trainHead = head(data.train, 5000);
  const trainAcc = accuracyOf(forwardSet(run.model, trainHead, data.normalization));
  const valAcc = accuracyOf(forwardSet(run.model, data.val, data.normalization));
  const fprBefore = meanValFpr(run, data);
  // Training-mode forward passes update the running statistics (momentum 0.9): three clean epochs of
  // the training images leave a weight of 0.9^250 on the old ones.
  for (let epoch = 0; epoch < 3; epoch++) {
    for (const b of batches(data.train, { batchSize: 128, shuffle: false, normalization: data.normalization })) {
      tf.tidy(() => { run.model.apply(tf.tensor4d(b.x, [b.size, ...data.train.shape]), true); });
    }
  }
  const valAccBn = accuracyOf(forwardSet(run.model, data.val, data.normalization));
  const fprAfter = meanValFpr(run, data);
  console.log(`| ${dir} | ${run.config.method} | ${pct(trainAcc)} | ${pct(valAcc)} | ${pct(valAccBn)} | ${pct(fprBefore)} | ${pct(fprAfter)} |`);
}
