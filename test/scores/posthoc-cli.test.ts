/**
 * `ares eval` with the five post-hoc scores on a tiny trained run: every one is evaluated from the
 * same forward passes, the chosen one is stored in detector.json with its state, and the exported
 * bundle's loader scores with it (ASH: the state carries the head it pushes shaped features through).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { loadDetector } from '../../src/export/loader.js';
import { normalize } from '../../src/data/index.js';
import { readRun } from '../../src/run/folder.js';
import { ash, parseFittedState } from '../../src/scores/index.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';
import { runCli, tempDir } from '../run/helpers.js';

const { dir, cleanup } = tempDir('posthoc-cli');
const runDir = join(dir, 'run');
let run: TinyRun;

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  run = await buildTinyRun(runDir, { seed: 1, limit: 600 });
}, 120_000);
afterAll(cleanup);

it('ares eval --score mls,gen,react,ash,scale --detector ash: metrics for each, ash stored and exported', async () => {
  const names = ['mls', 'gen', 'react', 'ash', 'scale'];
  const e = runCli(['eval', '--run', runDir, '--ood', 'gaussian', '--score', names.join(','), '--detector', 'ash', '--json'], { ARES_THREADS: '1' }, 200_000);
  expect(e.stderr).toBe('');
  expect(e.code).toBe(0);
  const metrics = JSON.parse(e.stdout) as { rows: { score: string; ood: string; auroc: number }[]; thresholds: Record<string, number> };
  expect(new Set(metrics.rows.map((r) => r.score))).toEqual(new Set(names));
  for (const r of metrics.rows) console.log(`tiny run: ${r.score} on ${r.ood}: AUROC ${(100 * r.auroc).toFixed(2)}%`);
  // Gaussian noise is far from the digits for every score.
  for (const r of metrics.rows.filter((x) => x.ood.startsWith('gaussian'))) expect(r.auroc, r.score).toBeGreaterThan(0.9);

  const det = JSON.parse(readFileSync(join(runDir, 'detector.json'), 'utf8'));
  expect(det.score.name).toBe('ash');
  expect(det.score.state.percentile).toBe(90);
  expect(det.threshold.gamma).toBe(metrics.thresholds.ash);

  // The stored state scores as an ash detector fitted on the run's head does.
  const r = readRun(runDir);
  const model = await r.loadModel();
  const [kernel, bias] = model.getLayer('head').getWeights();
  const fitted = ash().fit({
    logits: { data: new Float32Array(0), rows: 0, cols: kernel.shape[1] }, labels: [],
    head: { kernel: { data: Float32Array.from(kernel.dataSync()), rows: kernel.shape[0], cols: kernel.shape[1] }, bias: Float32Array.from(bias.dataSync()) },
  });
  const stored = r.detector.score as { name: 'ash'; state: Record<string, unknown> };
  expect(parseFittedState('ash', stored.state)).toEqual(fitted.state);
  const n = 8;
  const px = run.data.test.images.slice(0, n * 784);
  const [l, f] = tf.tidy(() => (model.predict(tf.tensor4d(normalize(px, [28, 28, 1], r.detector.normalization), [n, 28, 28, 1])) as tf.Tensor2D[]).map((t) => t.dataSync() as Float32Array));
  const direct = fitted.score({ logits: { data: l, rows: n, cols: 6 }, features: { data: f, rows: n, cols: f.length / n } });
  model.dispose();
  const loaded = await loadDetector(runDir);
  const x = tf.tensor4d(px, [n, 28, 28, 1]);
  const got = await loaded.predict(x);
  x.dispose();
  loaded.dispose();
  got.forEach((p, i) => expect(Math.abs(p.score - direct[i]), `image ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(direct[i]))));
  expect(got.filter((p) => p.accepted).length).toBeGreaterThanOrEqual(6);
}, 240_000);
