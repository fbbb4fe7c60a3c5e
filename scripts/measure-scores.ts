// Scoring speed and detector.json size per post-hoc score on a trained run: npx tsx scripts/measure-scores.ts RUN_DIR
import { initEngine } from '../src/engine/backend.js';
import { forwardSet } from '../src/eval/evaluate.js';
import { loadRun } from '../src/pipeline/load-run.js';
import { prepareForConfig } from '../src/pipeline/train-run.js';
import { energy, fittedScoreSpec, knn, mahalanobis, msp, rmds, vim } from '../src/scores/index.js';

const dir = process.argv[2];
const engine = await initEngine();
const run = await loadRun(dir);
const data = await prepareForConfig(run.config);
const norm = run.detector.normalization;
let t = performance.now();
const train = forwardSet(run.model, data.train, norm);
const tTrain = (performance.now() - t) / 1000;
t = performance.now();
const test = forwardSet(run.model, data.test, norm);
const tFwd = (performance.now() - t) / 1000;
console.log(`backend ${engine.backend}; train ${train.rows} images (forward ${tTrain.toFixed(1)} s), test ${test.rows} images forward ${tFwd.toFixed(2)} s = ${(test.rows / tFwd).toFixed(0)} images/s`);
const w = run.model.headWeights?.();
const fitIn = { logits: train.logits, features: train.features, labels: data.train.labels!, head: w ? { kernel: { data: w.kernel, rows: run.model.featureDim, cols: run.model.numClasses }, bias: w.bias } : undefined };
const base = { ...run.detector };
const sizeOf = (score: unknown) => Buffer.byteLength(JSON.stringify({ ...base, score }, null, 2) + '\n');
const makers = { energy: () => energy(), msp: () => msp(), mahalanobis: () => mahalanobis(), knn: () => knn(), vim: () => vim(), rmds: () => rmds() } as const;
for (const [name, make] of Object.entries(makers)) {
  const det = make();
  t = performance.now();
  det.fit(fitIn as never);
  const tFit = (performance.now() - t) / 1000;
  det.score(test); // warm-up
  t = performance.now();
  det.score(test);
  const tScore = (performance.now() - t) / 1000;
  const spec = det.requiresFit ? fittedScoreSpec(det as never) : name === 'energy' ? { name, weights: null } : { name };
  console.log(`${name.padEnd(12)} fit ${tFit.toFixed(2)} s | score only ${(test.rows / tScore).toFixed(0)} images/s | forward + score ${(test.rows / (tFwd + tScore)).toFixed(0)} images/s | detector.json ${sizeOf(spec)} bytes`);
}
