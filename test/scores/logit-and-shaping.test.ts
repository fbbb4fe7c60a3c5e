/**
 * MLS, GEN, ReAct, ASH and SCALE: hand-computed cases (the arithmetic is in the comments), numpy's
 * percentile and round conventions, the guards for features that go negative, a planted signal each
 * must find, and the fitted state's trip through detector.json into the exported predictor.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import { createDetector } from '../../src/export/predictor.js';
import { auroc } from '../../src/metrics/index.js';
import { DETECTOR_VERSION, parseDetectorSpec, type DetectorSpec } from '../../src/run/detector.js';
import { scoreRow } from '../../src/run/score.js';
import {
  ash, fittedScorer, fittedScoreSpec, gen, genScore, keptCount, maxLogit, mls, parseFittedState, percentileOf, react, scale,
  type LinearHead, type Matrix,
} from '../../src/scores/index.js';
import { shapingFactor } from '../../src/scores/ash.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

const mat = (rows: number[][]): Matrix => ({ data: Float64Array.from(rows.flat()), rows: rows.length, cols: rows[0].length });
const head = (kernel: number[][], bias: number[] | null = null): LinearHead => ({ kernel: mat(kernel), bias: bias ? Float64Array.from(bias) : null });
/** logits = h·W + b, what the model would give for these features. */
function logitsOf(x: Matrix, h: LinearHead): Matrix {
  const K = h.kernel.cols, out = new Float64Array(x.rows * K);
  for (let r = 0; r < x.rows; r++) for (let k = 0; k < K; k++) {
    let s = h.bias ? h.bias[k] : 0;
    for (let i = 0; i < x.cols; i++) s += x.data[r * x.cols + i] * h.kernel.data[i * K + k];
    out[r * K + k] = s;
  }
  return { data: out, rows: x.rows, cols: K };
}
const outputs = (rows: number[][], h: LinearHead) => { const features = mat(rows); return { features, logits: logitsOf(features, h) }; };
const fitOn = (rows: number[][], h: LinearHead) => ({ ...outputs(rows, h), labels: rows.map(() => 0), head: h });

describe('mls', () => {
  it('is the largest logit', () => {
    expect(maxLogit([1, 3, 2])).toBe(3);
    expect(Array.from(mls().score({ logits: mat([[1, 3, 2], [-1, -5, -2]]) }))).toEqual([3, -1]);
  });
});

describe('gen', () => {
  it('hand-computed: −Σ p^0.1 (1 − p)^0.1 over the top M probabilities', () => {
    // [0, 0]: p = (.5, .5); each term .5^.1·.5^.1 = .5^.2 = 0.870551 → −1.741101.
    expect(genScore([0, 0])).toBeCloseTo(-1.741101, 6);
    // [ln 3, 0]: p = (.75, .25); each term (.75·.25)^.1 = .1875^.1 = 0.845863 → −1.691726.
    expect(genScore([Math.log(3), 0])).toBeCloseTo(-1.691726, 6);
    // M = 1: only the top probability counts → −0.845863.
    expect(genScore([Math.log(3), 0], 0.1, 1)).toBeCloseTo(-0.845863, 6);
    // [ln 2, 0, 0]: p = (.5, .25, .25); M = 2 keeps .5 and one .25: −(0.870551 + 0.845863) = −1.716414.
    expect(genScore([Math.log(2), 0, 0], 0.1, 2)).toBeCloseTo(-1.716414, 6);
    // The top M, not the first M: the same logits in another order give the same score.
    expect(genScore([0, 0, Math.log(2)], 0.1, 2)).toBeCloseTo(-1.716414, 6);
    expect(genScore([Math.log(2), 0, 0])).toBeCloseTo(-(0.870551 + 2 * 0.845863), 6);
  });

  it('a more peaked softmax scores higher; bad hyperparameters are refused', () => {
    expect(genScore([5, 0, 0])).toBeGreaterThan(genScore([1, 0, 0]));
    expect(() => gen({ gamma: 1.5 })).toThrow(/gamma must be in \(0, 1\)/);
    expect(() => gen({ topM: 0 })).toThrow(/topM must be a positive integer/);
  });
});

describe('react', () => {
  it('percentile: numpy\'s linear interpolation', () => {
    // 0..9: position 9·0.9 = 8.1 → 8 + 0.1·(9 − 8) = 8.1. [1, 2, 3, 4] at 50: position 1.5 → 2.5.
    expect(percentileOf(Float64Array.from([9, 3, 0, 7, 1, 8, 2, 6, 4, 5]), 90)).toBeCloseTo(8.1, 12);
    expect(percentileOf(Float32Array.from([4, 1, 3, 2]), 50)).toBe(2.5);
    expect(percentileOf(Float64Array.from([5, 5, 5]), 90)).toBe(5);
    // Against a full sort on random data with ties.
    const rng = new Rng(3);
    const v = Float64Array.from({ length: 1001 }, () => Math.round(10 * rng.normal()));
    const sorted = Array.from(v).sort((a, b) => a - b);
    for (const p of [1, 37.5, 90, 99.9]) {
      const pos = ((v.length - 1) * p) / 100, lo = Math.floor(pos);
      expect(percentileOf(v, p)).toBeCloseTo(sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]), 10);
    }
  });

  it('hand-computed: clip at the 90th percentile of the pooled training activations, then energy', () => {
    // Training activations 0..9 pooled → c = 8.1. Identity head, no bias.
    const I = head([[1, 0], [0, 1]]);
    const det = react().fit(fitOn([[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]], I));
    expect(det.state!.clip).toBeCloseTo(8.1, 12);
    const s = det.score(outputs([[10, 0], [3, 20], [1, 1]], I));
    // [10, 0] → [8.1, 0] → 8.1 + ln(1 + e^−8.1) = 8.100303.
    expect(s[0]).toBeCloseTo(8.100303, 6);
    // [3, 20] → [3, 8.1] → 8.1 + ln(1 + e^−5.1) = 8.106077.
    expect(s[1]).toBeCloseTo(8.1 + Math.log(1 + Math.exp(-5.1)), 6);
    // Below the clip nothing changes: [1, 1] → 1 + ln 2.
    expect(s[2]).toBeCloseTo(1 + Math.log(2), 6);
  });

  it('needs the head and features; says when features·W + b is not the model\'s logits', () => {
    const I = head([[1, 0], [0, 1]]);
    const data = fitOn([[0, 1], [2, 3]], I);
    expect(() => react().fit({ ...data, head: undefined })).toThrow(AresError);
    expect(() => react().fit({ ...data, head: undefined })).toThrow(/needs the classifier's final linear layer/);
    expect(() => react().fit({ ...data, features: undefined })).toThrow(/penultimate features/);
    expect(() => react().fit({ ...data, head: head([[1, 0]]) })).toThrow(/kernel is \[1, 2\] but the features are 2-d/);
    expect(react().fit(data).warnings).toEqual([]);
    // Log-probabilities (logits minus a per-row constant) still match.
    const shifted = { ...data, logits: { ...data.logits, data: data.logits.data.map((v, i) => v - 3 * Math.floor(i / 2)) } };
    expect(react().fit(shifted).warnings).toEqual([]);
    const swapped = { ...data, logits: mat([[1, 0], [3, 2]]) };
    expect(react().fit(swapped).warnings.join()).toMatch(/not the final layer's input/);
    expect(() => react({ percentile: 100 })).toThrow(/percentile must be in \(0, 100\)/);
  });
});

describe('ash and scale', () => {
  // d = 4; W reads features 0 and 3 into class 0, 1 and 2 into class 1; no bias.
  const W = head([[1, 0], [0, 1], [0, 1], [1, 0]]);
  const r = Math.exp(8 / 6); // 3.793668

  it('keep k = d − round(d·p/100) with numpy\'s round half to even, at least 1', () => {
    expect(keptCount(10, 90)).toBe(1);
    expect(keptCount(2048, 90)).toBe(205); // 1843.2 → 1843
    expect(keptCount(5, 90)).toBe(1); // 4.5 → 4 (half to even), not 5
    expect(keptCount(3, 50)).toBe(1); // 1.5 → 2
    expect(keptCount(4, 50)).toBe(2);
    expect(keptCount(2, 90)).toBe(1); // 1.8 → 2 would keep none
  });

  it('ASH-S hand-computed: keep the top half, scale by exp(s1/s2), energy', () => {
    // h = [4, 1, 2, 1], p = 50 → k = 2: keep 4 (index 0) and 2 (index 2). s1 = 8, s2 = 6,
    // factor e^{8/6} = r = 3.793668. ĥ = [4r, 0, 2r, 0] → logits [4r, 2r] = [15.174672, 7.587336]
    // → 4r + ln(1 + e^{−2r}) = 15.175178.
    const s = ash({ percentile: 50 }).fit(fitOn([[4, 1, 2, 1]], W)).score(outputs([[4, 1, 2, 1]], W));
    expect(s[0]).toBeCloseTo(15.175178, 5);
    expect(s[0]).toBeCloseTo(4 * r + Math.log(1 + Math.exp(-2 * r)), 10);
    // Ties keep the lower index: [1, 1, 1, 1] at p = 50 keeps indices 0 and 1 → s1/s2 = 2;
    // ĥ = [e², e², 0, 0] → logits [e², e²] → e² + ln 2.
    const t = ash({ percentile: 50 }).fit(fitOn([[1, 1, 1, 1]], W)).score(outputs([[1, 1, 1, 1]], W));
    expect(t[0]).toBeCloseTo(Math.exp(2) + Math.log(2), 10);
  });

  it('SCALE hand-computed: scale every activation by exp(s1/s2), zero none', () => {
    // Same h and p: s2 = 6 again, factor r; ĥ = [4r, r, 2r, r] → logits [5r, 3r] = [18.968339, 11.381004]
    // → 5r + ln(1 + e^{−2r}) = 18.968846.
    const s = scale({ percentile: 50 }).fit(fitOn([[4, 1, 2, 1]], W)).score(outputs([[4, 1, 2, 1]], W));
    expect(s[0]).toBeCloseTo(18.968846, 5);
    expect(s[0]).toBeCloseTo(5 * r + Math.log(1 + Math.exp(-2 * r)), 10);
  });

  it('negative features: factor 1 when s2 ≤ 0, else at most exp(d/k); scores stay finite', () => {
    // h = [−1, −2, −3, −4], p = 50: kept −1, −2 → s2 = −3 ≤ 0 → factor 1: ASH logits [−1, −2].
    const neg = [[-1, -2, -3, -4]];
    const a = ash({ percentile: 50 }).fit(fitOn(neg, W)).score(outputs(neg, W));
    expect(a[0]).toBeCloseTo(-1 + Math.log(1 + Math.exp(-1)), 10);
    // SCALE with factor 1 is plain energy: logits [−1 − 4, −2 − 3] = [−5, −5] → −5 + ln 2.
    const sc = scale({ percentile: 50 }).fit(fitOn(neg, W)).score(outputs(neg, W));
    expect(sc[0]).toBeCloseTo(-5 + Math.log(2), 10);
    expect(shapingFactor(3, 2)).toBe(Math.exp(1.5));
    expect(shapingFactor(3, 0)).toBe(1);
    // Mixed signs: the top k average at least the row, so s1/s2 ≤ d/k whenever s2 > 0.
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) {
      const h = [0, 0, 0, 0].map(() => rng.normal() + 0.3);
      const s1 = h.reduce((t, v) => t + v, 0), top = Math.max(...h);
      if (top > 0) expect(s1 / top).toBeLessThanOrEqual(4);
      const x = outputs([h], W);
      expect(Number.isFinite(scale().fit(fitOn([h], W)).score(x)[0])).toBe(true);
      expect(Number.isFinite(ash().fit(fitOn([h], W)).score(x)[0])).toBe(true);
    }
    // All-zero features: s2 = 0 → factor 1 → logits b = 0 → ln 2.
    expect(ash({ percentile: 50 }).fit(fitOn([[0, 0, 0, 0]], W)).score(outputs([[0, 0, 0, 0]], W))[0]).toBeCloseTo(Math.log(2), 12);
  });

  it('fit needs only the head (features optional); refuses a model without one', () => {
    const d = ash().fit({ logits: mat([[0, 0]]), labels: [0], head: W });
    expect(d.state!.head.dim).toBe(4);
    expect(() => scale().fit({ logits: mat([[0, 0]]), labels: [0] })).toThrow(/scale recomputes the logits.*final linear layer/);
  });
});

describe('a planted signal each score finds (d = 64, post-ReLU features)', () => {
  // ID: the row's class block (class c owns units 8c..8c+7) moderately active over weak background.
  // OOD: weak background and two abnormally large activations on random units (the activation
  // spikes ReAct's paper reports for OOD data), so its logits are large but spread over classes.
  // The head reads each class's block, plus small random weights everywhere.
  const d = 64, K = 8;
  const rng = new Rng(11);
  const kernel: number[][] = Array.from({ length: d }, (_, i) => Array.from({ length: K }, (_, k) => (Math.floor(i / 8) === k ? 1 : 0) + 0.05 * rng.normal()));
  const H = head(kernel, Array.from({ length: K }, () => 0.1 * rng.normal()));
  const rows = (n: number, id: boolean) => Array.from({ length: n }, (_, r) => {
    const h = Array.from({ length: d }, (_, i) => Math.max(0, 0.2 * rng.normal()) + (id && Math.floor(i / 8) === r % K ? 1.5 + 0.5 * Math.abs(rng.normal()) : 0));
    if (!id) for (let j = 0; j < 2; j++) h[Math.floor(rng.uniform() * d)] += 5;
    return h;
  });
  const train = fitOn(rows(200, true), H);
  const idTest = outputs(rows(100, true), H), oodTest = outputs(rows(100, false), H);

  it.each([
    ['mls', () => mls()], ['gen', () => gen()], ['react', () => react()], ['ash', () => ash()], ['scale', () => scale()],
  ] as const)('%s: AUROC well above chance', (name, make) => {
    const det = make().fit(train);
    const a = auroc(det.score(idTest), det.score(oodTest));
    console.log(`planted signal: ${name} AUROC ${a.toFixed(3)}`);
    expect(a, name).toBeGreaterThan(0.8);
  });
});

describe('fitted state: detector.json → exported predictor', () => {
  // A layers model like an ares run's: [2, 3, 1] images → [logits, features], features = the
  // flattened pixels through a ReLU, head with bias.
  const D = 6, K = 3;
  const kernel = [[2, 0, 0], [0, 2, 0], [0, 0, 2], [0.5, -0.5, 0], [0, 0.3, 0], [-0.2, 0, 0.4]];
  const bias = [0.1, -0.2, 0.3];
  const H = head(kernel, bias);
  function model(): tf.LayersModel {
    const input = tf.input({ shape: [2, 3, 1] });
    const features = tf.layers.reLU().apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: K, name: 'head' });
    const logits = dense.apply(features) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: [logits, features] });
    dense.setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
    return m;
  }
  const rng = new Rng(21);
  const pixels = (n: number) => Array.from({ length: n }, () => Array.from({ length: D }, () => Math.max(0, 2 * rng.normal() + 0.5)));
  const train = fitOn(pixels(40), H);
  const probe = pixels(12);
  const base = { version: DETECTOR_VERSION, classNames: ['a', 'b', 'c'], inputShape: [2, 3, 1], normalization: { mean: [0], std: [1] }, resize: 'crop', threshold: { gamma: 0, tpr: 0.95, on: 'id-validation' } };

  it.each(['react', 'ash', 'scale'] as const)('%s: JSON round trip is exact; the predictor scores as the detector (float32 forward)', async (name) => {
    const det = { react: () => react(), ash: () => ash({ percentile: 70 }), scale: () => scale({ percentile: 70 }) }[name]().fit(train);
    const json = JSON.parse(JSON.stringify(fittedScoreSpec(det)));
    expect(parseFittedState(name, json.state, 'd.json')).toEqual(det.state);
    const spec: DetectorSpec = parseDetectorSpec({ ...base, score: json }, 'ares.json');
    const direct = det.score(outputs(probe, H));
    expect(fittedScorer(json)(outputs(probe, H))).toEqual(direct);
    const m = model();
    const predictor = createDetector(m, spec);
    const x = tf.tensor4d(Float32Array.from(probe.flat()), [probe.length, 2, 3, 1]);
    const got = await predictor.predict(x);
    x.dispose();
    predictor.dispose();
    got.forEach((p, i) => expect(Math.abs(p.score - direct[i]), `${name} row ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(direct[i]))));
    // A damaged state is refused when the file is read, naming it.
    const broken = { ...json, state: { ...json.state, head: { ...json.state.head, kernel: 'AAAA' } } };
    expect(() => parseDetectorSpec({ ...base, score: broken }, 'ares.json')).toThrow(new RegExp(`ares\\.json: invalid detector description: score\\.state: ${name} state: .*kernel`));
  });

  it('mls and gen: stored without state, scored from the logits alone by the predictor', async () => {
    const m = model();
    const x = tf.tensor4d(Float32Array.from(probe.flat()), [probe.length, 2, 3, 1]);
    const logits = logitsOf(mat(probe), H);
    for (const score of [{ name: 'mls' }, { name: 'gen', gamma: 0.1, topM: 100 }] as const) {
      const spec = parseDetectorSpec({ ...base, score }, 'ares.json');
      expect(spec.score).toEqual(score);
      const got = await createDetector(m, spec).predict(x);
      const direct = (score.name === 'mls' ? mls() : gen()).score({ logits });
      got.forEach((p, i) => expect(p.score).toBeCloseTo(direct[i], 4));
      expect(scoreRow([1, 5, 2], spec.score)).toBe(score.name === 'mls' ? 5 : genScore([1, 5, 2]));
    }
    x.dispose();
    m.dispose();
    // gen's hyperparameters are checked when read; left out, they are the paper's.
    expect(parseDetectorSpec({ ...base, score: { name: 'gen' } }, 'ares.json').score).toEqual({ name: 'gen', gamma: 0.1, topM: 100 });
    expect(() => parseDetectorSpec({ ...base, score: { name: 'gen', gamma: 2, topM: 100 } }, 'ares.json')).toThrow(/ares\.json: invalid detector description: score: gamma must be in \(0, 1\)/);
  });
});
