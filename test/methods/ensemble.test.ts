import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { forwardSet } from '../../src/eval/evaluate.js';
import { checkEnsembleScores, ensembleClassifier, memberConfig, memberDir } from '../../src/methods/ensemble.js';
import { train } from '../../src/methods/train.js';
import { rotationForward, rotationHeadOf, withRotationHead } from '../../src/methods/rotation.js';
import { buildCnn } from '../../src/models/cnn.js';
import { classifierFromSaved } from '../../src/models/index.js';
import type { Classifier } from '../../src/models/types.js';
import { loadRun } from '../../src/pipeline/load-run.js';
import { prepareForConfig, resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import { loadLayersModelFromDir, saveLayersModel } from '../../src/run/model-io.js';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/methods/config.js';
import { cellsOf, readBenchmarkConfig } from '../../src/pipeline/benchmark.js';

beforeAll(async () => { await initEngine(); });

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `ares-ens-${name}-`));
const values = (t: tf.Tensor) => Array.from(t.dataSync());
const meanOf = (a: number[], b: number[]) => a.map((v, i) => (v + b[i]) / 2);
const expectClose = (a: number[], b: number[], digits = 5) => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(v).toBeCloseTo(b[i], digits));
};

describe('ensembleClassifier', () => {
  it('averages the members\' logits, features and rotation logits; saved and loaded as one model it answers the same', async () => {
    const members: Classifier[] = [0, 1].map((s) => withRotationHead(buildCnn([8, 8, 1], 3, s), s));
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
    const outs = members.map((m) => rotationForward(m, x, false));
    const ens = await ensembleClassifier(members);
    const e = rotationForward(ens, x, false);
    expectClose(values(e.logits), meanOf(values(outs[0].logits), values(outs[1].logits)));
    expectClose(values(e.features), meanOf(values(outs[0].features), values(outs[1].features)));
    expectClose(values(e.rotation), meanOf(values(outs[0].rotation), values(outs[1].rotation)));
    expect(ens.headWeights?.()).toBeNull();
    // The ensemble holds copies: the members may go.
    members.forEach((m) => m.layersModel.dispose());
    const again = ens.apply(x, false);
    expectClose(values(again.logits), values(e.logits), 6);

    const dir = join(tmp('save'), 'model');
    await saveLayersModel(ens.layersModel, dir);
    const loaded = classifierFromSaved(await loadLayersModelFromDir(dir), 'cnn');
    expect(rotationHeadOf(loaded)).not.toBeNull();
    const l = loaded.apply(x, false);
    expectClose(values(l.logits), values(e.logits), 5);
    expectClose(values(l.features), values(e.features), 5);
    tf.dispose([x, e.logits, e.features, e.rotation, again.logits, again.features, l.logits, l.features]);
    outs.forEach((o) => tf.dispose([o.logits, o.features, o.rotation]));
  });

  it('refuses members of different shapes', async () => {
    const a = buildCnn([8, 8, 1], 3, 0), b = buildCnn([8, 8, 1], 4, 0);
    await expect(ensembleClassifier([a, b])).rejects.toThrow(/ensemble members differ/);
  });
});

/** 40 MNIST digits, two steps per epoch. */
const tiny = (over: Partial<TrainConfig> = {}) => resolveConfig({
  id: 'mnist', ood: ['gaussian'], valOod: 'blobs', model: 'cnn', method: 'ce',
  limit: 40, epochs: 2, pretrainEpochs: 0, batchSize: 16, seed: 6, ensemble: 2, ...over,
});

describe('ares train --ensemble', () => {
  it('config: k = 1 is a plain run; k must be a positive integer; members get seed + i', () => {
    expect('ensemble' in tiny({ ensemble: 1 })).toBe(false);
    expect(() => tiny({ ensemble: 0 })).toThrow(/--ensemble must be a positive integer, got 0/);
    expect(memberConfig(tiny(), 1)).toMatchObject({ seed: 7 });
    expect('ensemble' in memberConfig(tiny(), 1)).toBe(false);
  });

  it('benchmark configs take "ensemble" per entry and in --set; a bad k fails when the config is read', () => {
    const file = join(tmp('bench'), 'b.json');
    const write = (ensemble: unknown) => writeFileSync(file, JSON.stringify({
      name: 'e', defaults: { id: 'mnist' }, entries: [{ label: 'CE', method: 'ce', seeds: [0] }, { label: 'CE x3', method: 'ce', seeds: [0], ensemble }],
    }));
    write(3);
    expect(cellsOf(readBenchmarkConfig(file), 'out').map((c) => c.cfg.ensemble)).toEqual([undefined, 3]);
    expect(cellsOf(readBenchmarkConfig(file, { set: { ensemble: 2 } }), 'out').map((c) => c.cfg.ensemble)).toEqual([2, 2]);
    write(1.5);
    expect(() => readBenchmarkConfig(file)).toThrow(/--ensemble must be a positive integer, got 1.5/);
  });

  it('an ensemble scored with ReAct, ASH or SCALE (they need one linear head) fails before training, in a benchmark config and in trainRun', async () => {
    const file = join(tmp('bench'), 'h.json');
    writeFileSync(file, JSON.stringify({
      name: 'e', defaults: { id: 'mnist' }, scores: ['energy', 'react'],
      entries: [{ label: 'CE', method: 'ce', seeds: [0] }, { label: 'CE x3', method: 'ce', seeds: [0], ensemble: 3 }],
    }));
    expect(() => readBenchmarkConfig(file)).toThrow(/h\.json.*entry "CE x3": --ensemble 3: react recomputes the logits through the classifier's one linear head|entry "CE x3".*h\.json/s);
    expect(() => checkEnsembleScores({ ensemble: 2 }, ['vim', 'ash', 'scale'])).toThrow(/--ensemble 2: ash, scale recompute the logits/);
    expect(() => checkEnsembleScores({ ensemble: 2 }, ['energy', 'vim', 'knn', 'mahalanobis', 'mls', 'gen', 'msp', 'rmds'])).not.toThrow();
    expect(() => checkEnsembleScores({}, ['react'])).not.toThrow();
    const out = tmp('run');
    const err = await trainRun({ ...DEFAULT_CONFIG, id: 'mnist', ensemble: 2 }, { out, scores: ['react'] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/--ensemble 2: react/);
    // Nothing was trained or written.
    expect(readdirSync(out)).toEqual([]);
  });

  it('trains k members on one split, evaluates their mean, checkpoints each, resumes to the same numbers, saves the ensemble', async () => {
    const cfg = tiny();
    const dir = tmp('run');
    expect((await trainRun(cfg, { out: dir, stopAfterEpochs: 1 })).evaluation).toBeNull();
    expect(existsSync(join(memberDir(dir, 6), 'checkpoints'))).toBe(true);
    expect(existsSync(memberDir(dir, 7))).toBe(false);
    // A checkpoint half-written by a killed process (pid 2^22 + 1 is above Linux's pid limit) goes on resume.
    const leftover = join(memberDir(dir, 6), 'checkpoints', `.epoch-0002.ckpt.${2 ** 22 + 1}.1.tmp`);
    writeFileSync(leftover, 'partial');
    const resumed = await trainRun(cfg, { out: dir, resume: true });
    expect(existsSync(leftover)).toBe(false);
    expect(readdirSync(join(memberDir(dir, 7), 'checkpoints')).length).toBeGreaterThan(0);
    const whole = await trainRun(cfg);
    expect(Array.from(resumed.evaluation!.scores.energy.id)).toEqual(Array.from(whole.evaluation!.scores.energy.id));

    // Independently: the two members trained alone on the same data, their logits averaged.
    const data = await prepareForConfig(cfg);
    // One after the other: tfjs has one gradient tape, so two trainings cannot run at once.
    const alone = [await train(memberConfig(cfg, 0), data), await train(memberConfig(cfg, 1), data)];
    const logits = alone.map((t) => Array.from(forwardSet(t.model, data.test, data.normalization).logits.data));
    expectClose(Array.from(whole.evaluation!.outputs.test.logits.data), meanOf(logits[0], logits[1]), 4);

    // The run folder's model is the ensemble.
    const run = await loadRun(dir);
    const reloaded = forwardSet(run.model, data.test, run.detector.normalization);
    expectClose(Array.from(reloaded.logits.data), Array.from(resumed.evaluation!.outputs.test.logits.data), 4);
    alone.forEach((t) => t.model.layersModel.dispose());
  });
});
