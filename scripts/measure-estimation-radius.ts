/**
 * Measures how far the Estimation stage reaches: the Mahalanobis radius (under the pool's own
 * Gaussian fit) of the kept virtual outliers for the sampler at τ = 1 (the paper), larger τ, and
 * the `pool` source, against a typical draw and the pool's own instances. It trains one short
 * ARES run and reads the feature pool from its last checkpoint, so the pool is a real one.
 *   npx tsx scripts/measure-estimation-radius.ts [out-dir] [limit] [epochs]
 */
import { FeaturePool } from '../src/ares/expansion.js';
import { fitGaussian, leastLikelyPoolInstances, mahalanobis2, sampleVirtualOutliers } from '../src/ares/estimation.js';
import { loadCheckpoint } from '../src/methods/checkpoint.js';
import { resolveConfig, trainRun } from '../src/pipeline/train-run.js';
import { Rng } from '../src/util/rng.js';

const [out = 'runs/estimation-radius', limit = '3000', epochs = '3'] = process.argv.slice(2);
const cfg = resolveConfig({ id: 'fashion-mnist', valOod: 'blobs', limit: Number(limit), epochs: Number(epochs), pretrainEpochs: 1, seed: 0 });
const t0 = performance.now();
await trainRun(cfg, { out, onEpoch: (e) => process.stderr.write(`epoch ${e.epoch + 1} done\n`) });
const ckpt = loadCheckpoint(out);
if (!ckpt?.pool) throw new Error('no pool in the checkpoint');
const pool = FeaturePool.fromState(ckpt.pool);
const { mean, cov } = pool.moments();
const g = fitGaussian(mean, cov, 1e-4);
const B = cfg.batchSize;
const stats = (r: ArrayLike<number>) => {
  const a = Array.from(r).sort((x, y) => x - y);
  return { mean: a.reduce((s, v) => s + v, 0) / a.length, min: a[0], median: a[Math.floor(a.length / 2)], max: a[a.length - 1] };
};
const poolRadius = Float64Array.from({ length: pool.size }, (_, i) => Math.sqrt(mahalanobis2(g, pool.vector(i))));
const typical = sampleVirtualOutliers(g, cfg.candidates, Rng.stream(1, 'measure'), cfg.candidates, 1).radius; // every draw kept
const rows: Record<string, ReturnType<typeof stats>> = {
  'typical draw from N(μ, Σ)': stats(typical),
  'pool instances (all)': stats(poolRadius),
};
for (const tau of [1, 1.5, 2]) rows[`sampler τ = ${tau}, kept ${B} of ${cfg.candidates}`] = stats(sampleVirtualOutliers(g, B, Rng.stream(2, 'measure'), cfg.candidates, tau).radius);
rows[`pool source, kept ${B} of ${pool.size}`] = stats(leastLikelyPoolInstances(pool, g, B).radius);
console.log(JSON.stringify({ config: { id: cfg.id, limit: cfg.limit, epochs: cfg.epochs, d: g.dim, pool: pool.size, shrinkage: g.shrinkage }, seconds: (performance.now() - t0) / 1000, radius: rows }, null, 2));
