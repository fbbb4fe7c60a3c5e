/**
 * One conformance suite over every detector: shape, determinism, the fit contract (NotFittedError
 * before fit where fitting is required; fit harmless where not), state round-trip, no tensor leaks,
 * inputs left alone, and the score direction (higher = more ID) on a clearly separable case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { NotFittedError } from '../../src/errors.js';
import { auroc } from '../../src/metrics/index.js';
import { ash, type Detector, DETECTOR_NAMES, energy, gen, knn, mahalanobis, mls, msp, odin, react, rmds, scale, vim } from '../../src/scores/index.js';
import { asImages, D, HEAD, K, makeModel, makeSplit, type Split } from './fixtures.js';

const train = makeSplit(60, 'id', 1);
const idTest = makeSplit(30, 'id', 2);
const oodTest = makeSplit(30, 'ood', 3);
const faintTest = makeSplit(30, 'faint', 4);

interface Case {
  label: string;
  make: () => Detector<any, any, any>;
  fitData: () => unknown;
  input: (s: Split) => unknown;
  /** The OOD split of the direction check, when not oodTest. */
  ood?: Split;
  /** The direction check's AUROC bar, when below 1 (see the case). */
  minAuroc?: number;
  dispose?: () => void;
}

const outputs = (s: Split) => ({ logits: s.logits, features: s.features });
/** The split's features through a ReLU, logits recomputed through HEAD: post-ReLU penultimate features. */
const reluOutputs = (s: Split) => {
  const features = s.features.data.map((v) => Math.max(0, v));
  const logits = new Float32Array(s.logits.rows * K);
  for (let i = 0; i < s.logits.rows; i++) for (let k = 0; k < K; k++) for (let j = 0; j < D; j++) logits[i * K + k] += features[i * D + j] * HEAD[j * K + k];
  return { features: { ...s.features, data: features }, logits: { ...s.logits, data: logits } };
};
const labelled = () => ({ ...outputs(train), labels: train.labels });
// The fixture's head has no bias: ViM's origin is then 0.
const withHead = () => ({ ...labelled(), head: { kernel: { data: HEAD, rows: D, cols: K }, bias: null } });

// Built once the engine is up: ODIN's inputs are tensors.
const cases: Case[] = [];
let model: ReturnType<typeof makeModel>;
const images = new Map<Split, tf.Tensor4D>();

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  model = makeModel();
  for (const s of [train, idTest, oodTest]) images.set(s, asImages(s.features));
});
afterAll(() => { for (const t of images.values()) t.dispose(); });

const odinIn = (s: Split) => ({ model, inputs: images.get(s)! });
cases.push(
  { label: 'msp', make: () => msp(), fitData: labelled, input: outputs },
  { label: 'msp T=2', make: () => msp({ temperature: 2 }), fitData: labelled, input: outputs },
  { label: 'energy', make: () => energy(), fitData: labelled, input: outputs },
  { label: 'energy with learned w', make: () => energy({ weights: [0.5, 1.5, 1] }), fitData: labelled, input: outputs },
  { label: 'mahalanobis', make: () => mahalanobis(), fitData: labelled, input: outputs },
  { label: 'knn', make: () => knn(), fitData: labelled, input: outputs },
  { label: 'knn k=1, bank subsampled', make: () => knn({ k: 1, bankSize: 20, seed: 3 }), fitData: labelled, input: outputs },
  { label: 'vim (origin from the head)', make: () => vim(), fitData: withHead, input: outputs },
  { label: 'vim (no head: mean origin)', make: () => vim({ principalDim: 2 }), fitData: labelled, input: outputs },
  { label: 'rmds', make: () => rmds(), fitData: labelled, input: outputs },
  { label: 'mls', make: () => mls(), fitData: labelled, input: outputs },
  { label: 'gen', make: () => gen(), fitData: labelled, input: outputs },
  { label: 'gen γ=0.5, M=2', make: () => gen({ gamma: 0.5, topM: 2 }), fitData: labelled, input: outputs },
  { label: 'react', make: () => react(), fitData: withHead, input: outputs },
  { label: 'react p=95', make: () => react({ percentile: 95 }), fitData: withHead, input: outputs },
  { label: 'ash (ASH-S)', make: () => ash(), fitData: withHead, input: outputs },
  { label: 'ash p=50', make: () => ash({ percentile: 50 }), fitData: withHead, input: outputs },
  // SCALE scales every activation by exp(s1/s2): OOD rows whose mass is spread out get the largest
  // factor, and oodTest's rows (mass on three unread dimensions) are just that. Its premise is
  // post-ReLU features whose OOD activations are weaker than ID ones, so its direction is checked
  // on faint rows, with the features through a ReLU (the fixture's noise makes some negative).
  // At p = 85 of 6 features s2 is one activation, and a faint row whose top value is noise-small
  // gets a factor up to e^6: no perfect split at this width (the planted-signal test in
  // test/scores/logit-and-shaping.test.ts checks it at d = 64).
  { label: 'scale', make: () => scale(), fitData: withHead, input: reluOutputs, ood: faintTest, minAuroc: 0.9 },
  { label: 'scale p=50', make: () => scale({ percentile: 50 }), fitData: withHead, input: reluOutputs, ood: faintTest },
  { label: 'odin (paper T, ε)', make: () => odin({ batchSize: 16 }), fitData: () => odinIn(train), input: odinIn },
  { label: 'odin (ε tuned on ID)', make: () => odin({ epsilon: 'tune', epsilonGrid: [0, 0.01, 0.1] }), fitData: () => odinIn(train), input: odinIn },
);

it('the suite covers every detector name', () => {
  expect(new Set(cases.map((c) => c.make().name))).toEqual(new Set(DETECTOR_NAMES));
});

describe.each(cases)('$label', (c) => {
  it('score before fit: NotFittedError if fitting is required, else a valid score', () => {
    const d = c.make();
    expect(d.state).toBeNull();
    if (d.requiresFit) {
      expect(() => d.score(c.input(idTest))).toThrow(NotFittedError);
      expect(() => d.score(c.input(idTest))).toThrow(new RegExp(`"${d.name}" must be fitted`));
    } else {
      const before = d.score(c.input(idTest));
      expect(d.fit(c.fitData())).toBe(d);
      expect(d.score(c.input(idTest))).toEqual(before);
    }
  });

  it('shape: one finite Float64 score per sample', () => {
    const s = c.make().fit(c.fitData()).score(c.input(oodTest));
    expect(s).toBeInstanceOf(Float64Array);
    expect(s.length).toBe(oodTest.labels.length);
    expect(s.every(Number.isFinite)).toBe(true);
  });

  it('deterministic: same scores twice, and from a second detector fitted alike', () => {
    const a = c.make().fit(c.fitData());
    const first = a.score(c.input(idTest));
    expect(a.score(c.input(idTest))).toEqual(first);
    expect(c.make().fit(c.fitData()).score(c.input(idTest))).toEqual(first);
  });

  it('fitted state is separate: restoring it in a fresh detector reproduces the scores', () => {
    const a = c.make().fit(c.fitData());
    if (!a.requiresFit) return expect(a.state).toBeNull();
    expect(a.state).not.toBeNull();
    const b = c.make().restore(a.state);
    expect(b.score(c.input(oodTest))).toEqual(a.score(c.input(oodTest)));
  });

  it('higher = more in-distribution: every ID sample outscores every OOD sample', () => {
    const d = c.make().fit(c.fitData());
    const a = auroc(d.score(c.input(idTest)), d.score(c.input(c.ood ?? oodTest)));
    if (c.minAuroc === undefined) expect(a).toBe(1);
    else expect(a).toBeGreaterThanOrEqual(c.minAuroc);
  });

  it('no tensor leaks, and the caller\'s tensors stay usable', () => {
    const d = c.make().fit(c.fitData());
    d.score(c.input(idTest)); // warm-up (lazy kernels may allocate once)
    const before = tf.memory().numTensors;
    d.score(c.input(idTest));
    expect(tf.memory().numTensors).toBe(before);
    expect(images.get(idTest)!.isDisposed).toBe(false);
  });
});

describe('output-based detectors read tensors and plain matrices alike', () => {
  it.each(['msp', 'energy', 'mls', 'gen', 'mahalanobis', 'knn', 'vim', 'rmds', 'react', 'ash', 'scale'] as const)('%s', (name) => {
    const make = {
      msp: () => msp(), energy: () => energy(), mls: () => mls(), gen: () => gen(), mahalanobis: () => mahalanobis(), knn: () => knn(), vim: () => vim(), rmds: () => rmds(),
      react: () => react(), ash: () => ash(), scale: () => scale(),
    }[name];
    const d = make().fit(withHead());
    const logits = tf.tensor2d(idTest.logits.data as Float32Array, [idTest.logits.rows, idTest.logits.cols]);
    const features = tf.tensor2d(idTest.features.data as Float32Array, [idTest.features.rows, idTest.features.cols]);
    expect(d.score({ logits, features })).toEqual(d.score(outputs(idTest)));
    expect(logits.isDisposed || features.isDisposed).toBe(false);
    tf.dispose([logits, features]);
  });
});
