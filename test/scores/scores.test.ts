/** Each score checked against its formula on small inputs. */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import {
  energy, mahalanobis, mahalanobisStateFromJson, mahalanobisStateToJson, maxSoftmax, msp, negativeEnergy,
  negativeEnergyScores, odin, odinScores, ODIN_EPSILON_GRID,
} from '../../src/scores/index.js';
import { asImages, makeModel, makeSplit } from './fixtures.js';

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

const m = (rows: number[][]) => ({ data: Float64Array.from(rows.flat()), rows: rows.length, cols: rows[0].length });

describe('msp', () => {
  it('max softmax: logits [0, ln 3] -> 3/4; at T = 2 -> 1/(1 + 3^-1/2)', () => {
    expect(maxSoftmax(m([[0, Math.log(3)]]))[0]).toBeCloseTo(0.75, 15);
    expect(msp({ temperature: 2 }).score({ logits: m([[0, Math.log(3)]]) })[0]).toBeCloseTo(1 / (1 + 3 ** -0.5), 15);
  });
  it('stays exact for huge logits and at T = 1000', () => {
    expect(maxSoftmax(m([[1e4, 1e4 - Math.log(3)]]))[0]).toBeCloseTo(0.75, 12);
    const s = maxSoftmax(m([[10, 0, 0]]), 1000)[0];
    expect(s).toBeCloseTo(Math.exp(0.01) / (Math.exp(0.01) + 2), 15);
  });
});

describe('energy', () => {
  it('−E = T·logsumexp(f/T), stable at large logits', () => {
    expect(negativeEnergyScores(m([[1000, 1000]]))[0]).toBeCloseTo(1000 + Math.log(2), 10);
    expect(negativeEnergyScores(m([[1, 2, 3]]))[0]).toBeCloseTo(Math.log(Math.E + Math.E ** 2 + Math.E ** 3), 14);
    expect(energy({ temperature: 2 }).score({ logits: m([[1, 3]]) })[0]).toBeCloseTo(2 * Math.log(Math.exp(0.5) + Math.exp(1.5)), 14);
  });
  it('learned weights: −E = log Σ relu(w_k) exp(f_k); w_k <= 0 drops class k exactly; all zero -> −∞', () => {
    const w = [2, 0.5, -1];
    expect(negativeEnergyScores(m([[1, 2, 3]]), { weights: w })[0]).toBeCloseTo(Math.log(2 * Math.E + 0.5 * Math.E ** 2), 14);
    expect(negativeEnergyScores(m([[0, 900]]), { weights: [1, 0] })[0]).toBe(0);
    expect(negativeEnergyScores(m([[1, 2]]), { weights: [0, 0] })[0]).toBe(-Infinity);
    expect(() => energy({ weights: [1] }).score({ logits: m([[1, 2]]) })).toThrow(/1 weights for 2 classes/);
  });
  it('the differentiable tf version agrees, and its gradient is finite with w_k = 0', () => {
    const logits = tf.tensor2d([[1, 2, 3], [50, -20, 0.5]]);
    const w = tf.tensor1d([2, 0, 0.5]);
    const expected = negativeEnergyScores(m([[1, 2, 3], [50, -20, 0.5]]), { weights: [2, 0, 0.5] });
    const got = negativeEnergy(logits, w).dataSync();
    expect(got[0]).toBeCloseTo(expected[0], 5);
    expect(got[1]).toBeCloseTo(expected[1], 4);
    expect(negativeEnergy(logits).dataSync()[0]).toBeCloseTo(Math.log(Math.E + Math.E ** 2 + Math.E ** 3), 5);
    const [gLogits, gW] = tf.grads((l: tf.Tensor, ww: tf.Tensor) => tf.sum(negativeEnergy(l as tf.Tensor2D, ww as tf.Tensor1D)))([logits, w]);
    const gw = Array.from(gW.dataSync());
    expect(gw.every(Number.isFinite)).toBe(true);
    expect(gw[1]).toBe(0);
    // d(−E)/dw_0 = Σ_rows exp(f_0)/Σ_k w_k exp(f_k)
    const rowGrad = (f: number[]) => Math.exp(f[0]) / (2 * Math.exp(f[0]) + 0.5 * Math.exp(f[2]));
    expect(gw[0]).toBeCloseTo(rowGrad([1, 2, 3]) + rowGrad([50, -20, 0.5]), 4);
    expect(Array.from(gLogits.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([logits, w, gLogits, gW]);
  });
});

describe('mahalanobis', () => {
  // Two classes in 2-D: means (0,0) and (4,0); centred samples (±1, 0) and (0, ±2) give Σ = diag(0.5, 2).
  const features = m([[1, 0], [-1, 0], [0, 2], [0, -2], [5, 0], [3, 0], [4, 2], [4, -2]]);
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
  const logits = m(Array.from({ length: 8 }, () => [0, 0]));

  it('score = −min_c (h − μ_c)ᵀ Σ⁻¹ (h − μ_c) with the tied covariance', () => {
    const d = mahalanobis().fit({ logits, features, labels });
    const test = m([[1, 1], [4, -1], [2, 4]]);
    const s = d.score({ logits: m([[0, 0], [0, 0], [0, 0]]), features: test });
    expect(s[0]).toBeCloseTo(-(1 / 0.5 + 1 / 2), 12);
    expect(s[1]).toBeCloseTo(-(1 / 2), 12);
    expect(s[2]).toBeCloseTo(-(4 / 0.5 + 16 / 2), 12);
  });
  it('constant (dead) feature dimensions are left out instead of making Σ singular', () => {
    const withDead = m(Array.from({ length: 8 }, (_, i) => [features.data[2 * i], 0, features.data[2 * i + 1]]));
    const d = mahalanobis().fit({ logits, features: withDead, labels });
    expect(Array.from(d.state!.kept)).toEqual([0, 2]);
    expect(d.state!.jitter).toBe(0);
    expect(d.score({ logits: m([[0, 0]]), features: m([[1, 7, 1]]) })[0]).toBeCloseTo(-(1 / 0.5 + 1 / 2), 12);
  });
  it('state survives JSON; bad input is an AresError', () => {
    const d = mahalanobis().fit({ logits, features, labels });
    const json = JSON.parse(JSON.stringify(mahalanobisStateToJson(d.state!)));
    const restored = mahalanobis().restore(mahalanobisStateFromJson(json));
    expect(restored.score({ logits, features })).toEqual(d.score({ logits, features }));
    expect(() => mahalanobisStateFromJson({ ...json, chol: [1] }, 'run/maha.json')).toThrow(/run\/maha\.json: mahalanobis state: sizes/);
    expect(() => d.score({ logits, features: m([[1, 2, 3]]) })).toThrow(/fitted on 2-d features, got 3-d/);
    expect(() => d.score({ logits })).toThrow(/features; the outputs have none/);
    expect(() => mahalanobis().fit({ logits, features, labels: Int32Array.from([0, 0, 0, 0, 0, 0, 0, 2]) })).toThrow(AresError);
    // A class without training rows (ares fit on some of a model's classes) gets no Gaussian: the minimum runs over the seen ones.
    expect(mahalanobis().fit({ logits, features, labels: Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0]) }).state!.numClasses).toBe(1);
  });
});

describe('odin', () => {
  const model = () => makeModel();
  it('defaults are the ODIN paper\'s: T = 1000, ε = 0.0014', () => {
    expect(odin().params).toMatchObject({ temperature: 1000, epsilon: 0.0014 });
  });
  it('ε = 0 is MSP at temperature T', () => {
    const s = makeSplit(12, 'id', 5);
    const x = asImages(s.features);
    const scores = odin({ epsilon: 0, temperature: 7 }).score({ model: model(), inputs: x });
    const expected = maxSoftmax(s.logits, 7);
    for (let i = 0; i < 12; i++) expect(scores[i]).toBeCloseTo(expected[i], 6);
    x.dispose();
  });
  it('the perturbation moves each input by ε·sign(∇) and raises the score; inputStd rescales the step', () => {
    const s = makeSplit(12, 'ood', 6);
    const x = asImages(s.features);
    const mdl = model();
    const opts = { temperature: 1000, batchSize: 5 };
    const [base, pert] = odinScores(mdl, x, [0, 0.05], opts);
    for (let i = 0; i < 12; i++) expect(pert[i]).toBeGreaterThan(base[i]);
    // On normalised inputs with std 2, a pixel step ε is a step ε/2 in the model's input space.
    const [half] = odinScores(mdl, x, [0.05], { ...opts, inputStd: [2] });
    const [direct] = odinScores(mdl, x, [0.025], opts);
    for (let i = 0; i < 12; i++) expect(half[i]).toBeCloseTo(direct[i], 9);
    expect(() => odinScores(mdl, x, [0.1], { ...opts, inputStd: [1, 2] })).toThrow(/2 values for 1 channels/);
    x.dispose();
  });
  it('ε tuned on ID validation data only: the grid value with the highest mean ID score', () => {
    const s = makeSplit(15, 'id', 8);
    const x = asImages(s.features);
    const d = odin({ epsilon: 'tune' }).fit({ model: model(), inputs: x });
    const grid = d.state!.grid;
    expect(grid.map((g) => g.epsilon)).toEqual(ODIN_EPSILON_GRID);
    const best = Math.max(...grid.map((g) => g.meanScore));
    expect(d.state!.epsilon).toBe(grid.find((g) => g.meanScore === best)!.epsilon);
    // Larger steps raise the ID score on this linear model, so tuning moves away from 0.
    expect(d.state!.epsilon).toBeGreaterThan(0);
    expect(() => odin({ epsilon: -1 })).toThrow(AresError);
    x.dispose();
  });
});
