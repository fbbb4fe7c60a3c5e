import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { forwardSet } from '../../src/eval/evaluate.js';
import { negativeEnergyScores } from '../../src/scores/energy.js';
import { loadRun } from '../../src/pipeline/load-run.js';
import { validationHistogram } from '../../src/export/page/validation.js';
import { readRun } from '../../src/run/folder.js';
import { resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import type { TrainConfig } from '../../src/methods/config.js';

/** A tiny but real ARES run: MNIST digits 0–4 as ID, the rest (and Gaussian noise) as OOD. */
const tiny = (over: Partial<TrainConfig> = {}) => resolveConfig({
  id: 'mnist', idClasses: [0, 1, 2, 3, 4], ood: ['gaussian'], valOod: 'blobs', model: 'cnn', method: 'ares',
  limit: 640, epochs: 3, pretrainEpochs: 1, batchSize: 64, fractalBankSize: 64, poolSize: 512, candidates: 1024,
  seed: 3, ...over,
});

beforeAll(async () => { await initEngine(); });

describe('trainRun (ares, end to end on an MNIST slice)', () => {
  it('trains, writes a run folder, reloads it and scores the same', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ares-run-'));
    const r = await trainRun(tiny(), { out });
    expect(r.evaluation).not.toBeNull();
    expect(r.trained.history).toHaveLength(3);
    expect(r.trained.history[2].jsd).not.toBeNull();
    expect(r.trained.energyWeights).not.toBeNull();
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.rows.map((m: { ood: string }) => m.ood)).toEqual(r.evaluation!.ood.map((o) => o.ood));
    expect(metrics.idAccuracy).toBeGreaterThan(0.5);
    // Grey 28×28 digits: `augment: auto` is recorded as none (digits are not flip-invariant).
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).augment).toBe('none');

    const run = await loadRun(out);
    const again = forwardSet(run.model, r.data.test, run.detector.normalization);
    const w = run.detector.score.name === 'energy' ? run.detector.score.weights ?? undefined : undefined;
    const reloaded = negativeEnergyScores(again.logits, { weights: w });
    const original = r.evaluation!.scores.energy.id;
    for (let i = 0; i < original.length; i++) expect(reloaded[i]).toBeCloseTo(original[i], 4);

    // The exported page's histogram: the ID-validation scores γ was set on are kept and give γ back.
    const page = validationHistogram(readRun(out));
    expect(page.note).toBeUndefined();
    expect(page.histogram?.count).toBe(r.data.val.count);
  });

  it('resuming a stopped run gives the same final metrics as an uninterrupted one', async () => {
    const cfg = tiny({ epochs: 2, limit: 384, seed: 5 });
    const whole = await trainRun(cfg, { out: mkdtempSync(join(tmpdir(), 'ares-whole-')) });
    const dir = mkdtempSync(join(tmpdir(), 'ares-resume-'));
    const first = await trainRun(cfg, { out: dir, stopAfterEpochs: 1 });
    expect(first.evaluation).toBeNull();
    const resumed = await trainRun(cfg, { out: dir, resume: true });
    expect(resumed.trained.history.map((h) => h.loss)).toEqual(whole.trained.history.map((h) => h.loss));
    expect(resumed.evaluation!.accuracy).toBe(whole.evaluation!.accuracy);
    expect(resumed.evaluation!.ood[0].metrics.fpr).toBe(whole.evaluation!.ood[0].metrics.fpr);
  });

  it('holds the number of live tensors constant across ARES steps', async () => {
    const counts: number[] = [];
    await trainRun(tiny({ epochs: 2, limit: 384, seed: 7 }), {
      onStep: (s) => { if (s.epoch === 1) counts.push(tf.memory().numTensors); },
    });
    expect(counts.length).toBeGreaterThan(2);
    expect(new Set(counts.slice(1)).size).toBe(1);
  });
});
