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
import { batches, selectIndices } from '../src/data/index.js';
import { initEngine } from '../src/engine/backend.js';
import { evaluate, forwardSet } from '../src/eval/evaluate.js';
import { accuracy, argmaxRows } from '../src/metrics/index.js';
import { loadRun } from '../src/pipeline/load-run.js';
import { prepareForConfig } from '../src/pipeline/train-run.js';

await initEngine();

const accuracyOf = (out: ReturnType<typeof forwardSet>) => accuracy(argmaxRows(out.logits.data, out.logits.cols), out.labels!);

const pct = (v: number) => (100 * v).toFixed(2);
console.log('| run | method | clean train acc. | val acc. (as trained) | val acc. (BN re-estimated on clean train) | mean val. FPR95 (as trained) | mean val. FPR95 (BN re-estimated) |');
console.log('|---|---|---|---|---|---|---|');
/** ID validation accuracy and mean validation-OOD FPR95 in one pass (the ID validation split stands in for the test split, which is never read). */
function validationNumbers(run: Awaited<ReturnType<typeof loadRun>>, data: Awaited<ReturnType<typeof prepareForConfig>>): { acc: number; fpr: number } {
  const s = run.detector.score;
  const w = s.name === 'energy' ? s.weights : null;
  const e = evaluate(run.model, { ...data, test: data.val, ood: [] }, { scores: ['energy'], energyWeights: w ? Float32Array.from(w) : null });
  return { acc: e.accuracy, fpr: e.valOod.reduce((a, r) => a + r.metrics.fpr, 0) / e.valOod.length };
}
for (const dir of process.argv.slice(2)) {
  const run = await loadRun(dir);
  const data = await prepareForConfig({ ...run.config, ood: [] });
  const trainHead = selectIndices(data.train, Int32Array.from({ length: Math.min(5000, data.train.count) }, (_, i) => i));
  const trainAcc = accuracyOf(forwardSet(run.model, trainHead, data.normalization));
  const before = validationNumbers(run, data);
  // Training-mode forward passes update the running statistics (momentum 0.9): three clean epochs of
  // the training images leave a weight of 0.9^250 on the old ones.
  for (let epoch = 0; epoch < 3; epoch++) {
    for (const b of batches(data.train, { batchSize: 128, shuffle: false, normalization: data.normalization })) {
      tf.tidy(() => { run.model.apply(tf.tensor4d(b.x, [b.size, ...data.train.shape]), true); });
    }
  }
  const after = validationNumbers(run, data);
  console.log(`| ${dir} | ${run.config.method} | ${pct(trainAcc)} | ${pct(before.acc)} | ${pct(after.acc)} | ${pct(before.fpr)} | ${pct(after.fpr)} |`);
}
