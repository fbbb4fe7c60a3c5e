import { resolveConfig } from '../pipeline/train-run.js';
import { createSession, trainStep } from '../methods/train.js';
import type { PreparedDataset } from '../data/prepare.js';
import type { ImageSet } from '../data/types.js';
import { Rng } from '../util/rng.js';
import { BENCH_INPUT } from './ce-step.js';
import type { BenchStep, BenchStepOptions } from './registry.js';

/**
 * The full ARES training step as train.ts runs it in its outlier phase: PixMix of the host batch
 * (Escape, after the crop + flip training applies to this shape), forward, feature mixup into the pool (Expansion), Gaussian fit and 10,000 candidates
 * (Estimation), energies and JSD (Divergence), backward and update. Fixed random pixels and labels,
 * as the CE step uses, so the two are timed on the same work.
 */
export function aresBenchStep(model: string) {
  return ({ batch, seed }: BenchStepOptions): BenchStep => {
    const { shape, classes, augment } = BENCH_INPUT[model];
    const rng = new Rng(seed);
    const n = batch * shape[0] * shape[1] * shape[2];
    const pixels = Float32Array.from({ length: n }, () => rng.uniform());
    const labels = Int32Array.from({ length: batch }, () => rng.int(classes));
    const set: ImageSet = { name: 'bench', shape, count: batch, images: pixels, labels, classNames: Array.from({ length: classes }, (_, i) => String(i)) };
    const data: PreparedDataset = {
      train: set, val: set, test: set, ood: [], valOod: [], classNames: set.classNames!, shape,
      normalization: { mean: Array(shape[2]).fill(0.5), std: Array(shape[2]).fill(0.25) },
    };
    const cfg = resolveConfig({ id: 'bench', model: model as never, method: 'ares', batchSize: batch, seed, epochs: 2, pretrainEpochs: 1, augment });
    const session = createSession(cfg, data);
    let step = 0;
    return {
      // epoch = pretrainEpochs: every stage of Algorithm 1 runs (the pool fills from the first step).
      step: async () => (await trainStep(session, Float32Array.from(pixels), labels, 1, step++, 0.1)).loss,
      dispose: () => { session.sgd.dispose(); session.model.layersModel.dispose(); },
    };
  };
}
