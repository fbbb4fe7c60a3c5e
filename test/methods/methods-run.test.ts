import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { loadRun } from '../../src/pipeline/load-run.js';
import { prepareForConfig, resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import { rotationHeadOf } from '../../src/methods/rotation.js';
import { stagesOf, type Method, type TrainConfig } from '../../src/methods/config.js';

/**
 * Two steps per epoch on 40 MNIST digits (28×28, square: rotations apply). All ten classes:
 * with --id-classes the held-out digits would become a large OOD set, unlimited.
 */
const tiny = (method: Method, over: Partial<TrainConfig> = {}) => resolveConfig({
  id: 'mnist', ood: ['gaussian'], valOod: 'blobs', model: 'cnn', method,
  limit: 40, epochs: 2, pretrainEpochs: 0, batchSize: 16, fractalBankSize: 16, seed: 6, ...over,
});
const out = (name: string) => mkdtempSync(join(tmpdir(), `ares-${name}-`));

beforeAll(async () => { await initEngine(); });

describe('logitnorm and rotation methods in ares train', () => {
  it('config: PixMix forms switch the Escape stage on; τ and λ are validated and named', () => {
    expect(stagesOf(tiny('pixmix-logitnorm'))).toEqual({ escape: true, outliers: false });
    expect(stagesOf(tiny('rotation'))).toEqual({ escape: false, outliers: false });
    expect(tiny('logitnorm').logitNormTau).toBe(0.04);
    expect(tiny('rotation').rotationWeight).toBe(0.5);
    expect(() => tiny('logitnorm', { logitNormTau: 0 })).toThrow(/logitNormTau .* > 0, got 0/);
    expect(() => tiny('rotation', { rotationWeight: -1 })).toThrow(/rotationWeight .* >= 0, got -1/);
  });

  // Finished run folders of the tests below, for the load test at the end.
  const finished: Partial<Record<Method, string>> = {};
  for (const method of ['logitnorm', 'pixmix-logitnorm', 'rotation', 'pixmix-rotation'] as const) {
    it(`${method}: checkpoints, resumes to the same numbers, holds the live tensor count`, async () => {
      const cfg = tiny(method);
      const counts: number[] = [];
      // Without a run folder (no report to write): the same training and evaluation, in memory.
      const whole = await trainRun(cfg, { onStep: (s) => { if (s.epoch === 1) counts.push(tf.memory().numTensors); } });
      expect(counts.length).toBeGreaterThanOrEqual(2);
      expect(new Set(counts).size).toBe(1);
      const dir = out(`${method}-resume`);
      expect((await trainRun(cfg, { out: dir, stopAfterEpochs: 1 })).evaluation).toBeNull();
      const resumed = await trainRun(cfg, { out: dir, resume: true });
      finished[method] = dir;
      const losses = whole.trained.history.map((h) => h.loss);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(resumed.trained.history.map((h) => h.loss)).toEqual(losses);
      expect(resumed.evaluation!.accuracy).toBe(whole.evaluation!.accuracy);
      expect(Array.from(resumed.evaluation!.scores.energy.id)).toEqual(Array.from(whole.evaluation!.scores.energy.id));
      const rotation = method.endsWith('rotation');
      expect(rotationHeadOf(whole.trained.model) !== null).toBe(rotation);
      // A rotation run evaluates its own score beside the others.
      expect(Object.keys(whole.evaluation!.scores).includes('rotpred')).toBe(rotation);
      if (rotation) expect(Array.from(resumed.evaluation!.scores.rotpred.id)).toEqual(Array.from(whole.evaluation!.scores.rotpred.id));
    });
  }

  it('the saved run keeps the rotation head: rotpred from the loaded model equals training\'s; a model without it is refused', async () => {
    const run = await loadRun(finished.rotation!);
    expect(rotationHeadOf(run.model)).not.toBeNull();
    const data = await prepareForConfig(run.config);
    const e = evaluate(run.model, { ...data, normalization: run.detector.normalization }, { scores: ['rotpred'] });
    const saved = (run.folder.metrics?.rows ?? []).filter((m) => m.score === 'rotpred');
    expect(saved.map((m) => m.ood)).toEqual(['gaussian:test']);
    expect(e.ood[0].metrics.auroc).toBeCloseTo(saved[0].auroc, 6);
    expect(e.thresholds.rotpred).toBeCloseTo((run.folder.metrics!.thresholds as Record<string, number>).rotpred, 4);

    const plain = await loadRun(finished.logitnorm!);
    expect(() => evaluate(plain.model, data, { scores: ['rotpred'] })).toThrow(AresError);
    expect(() => evaluate(plain.model, data, { scores: ['rotpred'] })).toThrow(/--method rotation or pixmix-rotation/);
    // The CLI says it in one line and exits with the usage code.
    const cli = spawnSync(process.execPath, ['bin/ares.js', 'eval', '--run', finished.logitnorm!, '--score', 'rotpred'], { encoding: 'utf8', env: { ...process.env, ARES_THREADS: '1' }, timeout: 120_000 });
    expect(cli.status).toBe(2);
    expect(cli.stderr.trim().split('\n')).toEqual([expect.stringMatching(/rotpred score needs the rotation head/)]);
  });
});
