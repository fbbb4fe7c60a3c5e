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
import { type Detector, DETECTOR_NAMES, energy, knn, mahalanobis, msp, odin, rmds, vim } from '../../src/scores/index.js';
import { asImages, D, HEAD, K, makeModel, makeSplit, type Split } from './fixtures.js';

const train = makeSplit(60, 'id', 1);
const idTest = makeSplit(30, 'id', 2);
const oodTest = makeSplit(30, 'ood', 3);

interface Case {
  label: string;
  make: () => Detector<any, any, any>;
  fitData: () => unknown;
  input: (s: Split) => unknown;
  dispose?: () => void;
}

const outputs = (s: Split) => ({ logits: s.logits, features: s.features });
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
    expect(auroc(d.score(c.input(idTest)), d.score(c.input(oodTest)))).toBe(1);
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
  it.each(['msp', 'energy', 'mahalanobis', 'knn', 'vim', 'rmds'] as const)('%s', (name) => {
    const make = { msp: () => msp(), energy: () => energy(), mahalanobis: () => mahalanobis(), knn: () => knn(), vim: () => vim(), rmds: () => rmds() }[name];
    const d = make().fit(labelled());
    const logits = tf.tensor2d(idTest.logits.data as Float32Array, [idTest.logits.rows, idTest.logits.cols]);
    const features = tf.tensor2d(idTest.features.data as Float32Array, [idTest.features.rows, idTest.features.cols]);
    expect(d.score({ logits, features })).toEqual(d.score(outputs(idTest)));
    expect(logits.isDisposed || features.isDisposed).toBe(false);
    tf.dispose([logits, features]);
  });
});
