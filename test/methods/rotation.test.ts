import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import { resolveConfig } from '../../src/pipeline/train-run.js';
import { createSession, trainStep } from '../../src/methods/train.js';
import {
  checkSquare, requireRotationHead, rotateImage, rotationBatch, rotationHeadOf, rotationLoss, rotpredFromOutputs,
  rotpredScores, ROTATION_HEAD_NAME, withRotationHead,
} from '../../src/methods/rotation.js';
import { buildCnn } from '../../src/models/cnn.js';
import type { PreparedDataset } from '../../src/data/prepare.js';
import type { ImageSet } from '../../src/data/types.js';
import { auroc } from '../../src/metrics/auc.js';
import { forwardSet } from '../../src/eval/evaluate.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await initEngine(); });

describe('rotations', () => {
  // A planted asymmetric 3×3 image with two channels (the second = 10 + the first), so every turn is told apart.
  const grid = [[0, 1, 2], [3, 4, 5], [6, 7, 8]];
  const image = (g: number[][]) => Float32Array.from(g.flat().flatMap((v) => [v, 10 + v]));
  // torch.rot90(x, k, dims=(H, W)) of the grid, written out by hand.
  const expected = [grid, [[2, 5, 8], [1, 4, 7], [0, 3, 6]], [[8, 7, 6], [5, 4, 3], [2, 1, 0]], [[6, 3, 0], [7, 4, 1], [8, 5, 2]]];

  it('quarter turns counter-clockwise, as torch.rot90 over (H, W); four turns are the identity', () => {
    const src = image(grid);
    for (let k = 0; k < 4; k++) {
      const dst = new Float32Array(src.length);
      rotateImage(src, dst, 3, 2, k);
      expect(Array.from(dst)).toEqual(Array.from(image(expected[k])));
    }
    const dst = new Float32Array(src.length);
    rotateImage(src, dst, 3, 2, 4);
    expect(dst).toEqual(src);
  });

  it('agree with tf: one turn is reverse(transpose(x)) over H, W, on a random 5×5×3 image', () => {
    const rng = new Rng(1);
    const src = Float32Array.from({ length: 75 }, () => rng.uniform());
    const dst = new Float32Array(75);
    rotateImage(src, dst, 5, 3, 1);
    const viaTf = tf.tidy(() => tf.reverse(tf.transpose(tf.tensor3d(src, [5, 5, 3]), [1, 0, 2]), 0).dataSync());
    expect(Array.from(dst)).toEqual(Array.from(viaTf));
  });

  it('a batch is stacked rotation-major with labels 0..3; non-square images are refused', () => {
    const a = image(grid), b = image(grid.map((r) => r.map((v) => v + 100)));
    const x = new Float32Array([...a, ...b]);
    const r = rotationBatch(x, [3, 3, 2], 2);
    expect(Array.from(r.labels)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    const size = 18;
    const at = (i: number) => Array.from(r.x.subarray(i * size, (i + 1) * size));
    expect(at(0)).toEqual(Array.from(a));
    expect(at(1)).toEqual(Array.from(b));
    expect(at(2)).toEqual(Array.from(image(expected[1])));
    expect(at(7)).toEqual(Array.from(image(expected[3].map((row) => row.map((v) => v + 100)))));
    expect(() => checkSquare([4, 6, 1])).toThrow(AresError);
    expect(() => rotationBatch(new Float32Array(24), [4, 6, 1], 1)).toThrow(/square images; these are 4×6/);
  });
});

/** Mean CE of rows of logits against labels, in float64. */
function ceReference(logits: number[][], labels: number[]): number {
  let s = 0;
  logits.forEach((row, i) => {
    const m = Math.max(...row);
    s += m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[labels[i]];
  });
  return s / logits.length;
}

describe('rotation loss', () => {
  it('is the mean 4-way cross-entropy, with the gradient of its definition wrt the rotation logits', () => {
    const rng = new Rng(5);
    const labels = [0, 0, 1, 1, 2, 2, 3, 3];
    const logits = labels.map(() => Array.from({ length: 4 }, () => 1.5 * rng.normal()));
    const lab = Int32Array.from(labels);
    expect(tf.tidy(() => rotationLoss(tf.tensor2d(logits), lab).dataSync()[0])).toBeCloseTo(ceReference(logits, labels), 5);
    const g = tf.tidy(() => tf.grad((l: tf.Tensor) => rotationLoss(l as tf.Tensor2D, lab))(tf.tensor2d(logits)).arraySync() as number[][]);
    const h = 1e-5;
    logits.forEach((row, i) => row.forEach((_, k) => {
      const p = logits.map((r) => [...r]); p[i][k] += h;
      const m = logits.map((r) => [...r]); m[i][k] -= h;
      expect(g[i][k]).toBeCloseTo((ceReference(p, labels) - ceReference(m, labels)) / (2 * h), 4);
    }));
  });

  it('reaches the rotation head\'s kernel with the gradient finite differences give', () => {
    const model = withRotationHead(buildCnn([8, 8, 1], 3, 2), 2);
    const head = rotationHeadOf(model)!;
    expect(head.name).toBe(ROTATION_HEAD_NAME);
    const rng = new Rng(8);
    const n = 8, d = model.featureDim;
    const features = Float32Array.from({ length: n * d }, () => Math.max(0, rng.normal()));
    const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
    const [kernelVar, biasVar] = head.getWeights();
    const W = Array.from(kernelVar.dataSync()), bias = Array.from(biasVar.dataSync());
    const lossAt = (w: number[]) => ceReference(Array.from({ length: n }, (_, i) => Array.from({ length: 4 }, (_, r) => {
      let z = bias[r];
      for (let j = 0; j < d; j++) z += features[i * d + j] * w[j * 4 + r];
      return z;
    })), Array.from(labels));
    const kernel = (head.trainableWeights[0] as unknown as { val: tf.Variable }).val;
    const grad = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => rotationLoss(head.apply(tf.tensor2d(features, [n, d])) as tf.Tensor2D, labels), [kernel]);
      return grads[kernel.name].dataSync();
    });
    const h = 1e-4;
    for (const idx of [0, 5, 17, 4 * 40 + 2, W.length - 1]) {
      const p = [...W]; p[idx] += h;
      const m = [...W]; m[idx] -= h;
      expect(grad[idx]).toBeCloseTo((lossAt(p) - lossAt(m)) / (2 * h), 3);
    }
    model.layersModel.dispose();
  });
});

describe('the rotpred score', () => {
  it('is KL(U ‖ p) + the mean log-probability of the right rotation (a hand computation)', () => {
    // p = (1/4, 3/4): KL(U ‖ p) = ½ log(½ / ¼) + ½ log(½ / ¾) = ½ log(4/3).
    const logits = [0, Math.log(3)];
    // Rotation r's row gives its own rotation logit ln 3 (p = 3/6 = ½) for r = 0, 1 and 0 (p = ¼) for r = 2, 3.
    const rot = [[Math.log(3), 0, 0, 0], [0, Math.log(3), 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]].flat();
    const [s] = rotpredFromOutputs(logits, rot, 1, 2);
    expect(s).toBeCloseTo(0.5 * Math.log(4 / 3) + (2 * Math.log(0.5) + 2 * Math.log(0.25)) / 4, 10);
    expect(() => rotpredFromOutputs(logits, rot.slice(4), 1, 2)).toThrow(AresError);
  });

  it('needs the rotation head: a plain model is refused with an AresError naming the methods', () => {
    const plain = buildCnn([8, 8, 1], 2, 0);
    expect(rotationHeadOf(plain)).toBeNull();
    expect(() => requireRotationHead(plain)).toThrow(/rotpred score needs the rotation head of a model trained with --method rotation or pixmix-rotation/);
    const set: ImageSet = { name: 'x', shape: [8, 8, 1], count: 1, images: new Float32Array(64) };
    expect(() => rotpredScores(plain, set, { mean: [0], std: [1] }, 4)).toThrow(AresError);
    plain.layersModel.dispose();
  });

  it('separates images with an orientation from rotation-invariant noise after a short training (planted signal)', async () => {
    const shape: [number, number, number] = [8, 8, 1];
    const rng = new Rng(21);
    // ID: a top-to-bottom brightness ramp (what says which way is up) plus noise; class 1 also has a checkerboard.
    const idImages = (count: number, labels: Int32Array) => {
      const x = new Float32Array(count * 64);
      for (let n = 0; n < count; n++) {
        for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) {
          const v = 0.9 - 0.8 * i / 7 + (labels[n] === 1 ? 0.15 * ((i + j) % 2 ? 1 : -1) : 0) + 0.05 * rng.normal();
          x[n * 64 + i * 8 + j] = Math.min(1, Math.max(0, v));
        }
      }
      return x;
    };
    const set = (name: string, count: number, labelled: boolean): ImageSet => {
      const labels = Int32Array.from({ length: count }, (_, i) => i % 2);
      return labelled
        ? { name, shape, count, images: idImages(count, labels), labels, classNames: ['ramp', 'ramp+checks'] }
        : { name, shape, count, images: Float32Array.from({ length: count * 64 }, () => rng.uniform()) };
    };
    const data: PreparedDataset = {
      train: set('train', 256, true), val: set('val', 32, true), test: set('test', 96, true),
      ood: [set('noise', 96, false)], valOod: [], normalization: { mean: [0.5], std: [0.3] }, classNames: ['ramp', 'ramp+checks'], shape,
    };
    const cfg = resolveConfig({ id: 'generated', method: 'rotation', model: 'cnn', batchSize: 16, augment: 'none', seed: 4, epochs: 1, pretrainEpochs: 0 });
    const s = createSession(cfg, data);
    const before = { id: rotpredScores(s.model, data.test, data.normalization, 32), ood: rotpredScores(s.model, data.ood[0], data.normalization, 32) };
    const B = 16;
    for (let step = 0; step < 30; step++) {
      const at = (step * B) % data.train.count;
      await trainStep(s, data.train.images.slice(at * 64, (at + B) * 64), data.train.labels!.slice(at, at + B), 0, step, 0.05);
    }
    const id = rotpredScores(s.model, data.test, data.normalization, 32);
    const ood = rotpredScores(s.model, data.ood[0], data.normalization, 32);
    const auc = auroc(id, ood);
    expect(auc).toBeGreaterThan(0.9);
    expect(auc).toBeGreaterThan(auroc(before.id, before.ood) + 0.2);
    // The rotation head's own term (the score minus KL(U ‖ p) of the plain forward pass) separates
    // them too, and on ID images it is far above chance, log ¼: the head has learnt which way is up.
    const rotationTerm = (scores: Float64Array, images: ImageSet) => {
      const o = forwardSet(s.model, images, data.normalization, 32);
      return scores.map((v, i) => {
        const l = Array.from(o.logits.data.subarray(i * 2, i * 2 + 2));
        const lse = Math.max(...l) + Math.log(l.reduce((a, z) => a + Math.exp(z - Math.max(...l)), 0));
        return v - (-Math.log(2) - ((l[0] - lse) + (l[1] - lse)) / 2);
      });
    };
    const rotId = rotationTerm(id, data.test), rotOod = rotationTerm(ood, data.ood[0]);
    expect(auroc(rotId, rotOod)).toBeGreaterThan(0.9);
    expect(rotId.reduce((a, v) => a + v, 0) / rotId.length).toBeGreaterThan(Math.log(0.25) + 0.5);
    s.model.layersModel.dispose();
    s.sgd.dispose();
  });
});
