/**
 * Escape stage: PixMix with fractals (paper §3.3.1, design.md "PixMix").
 * Per image: start from the image or one augmentation of it (p = 0.5); then 1..k mixing rounds,
 * the first always with the image's fractal, later ones with the fractal or a fresh augmentation
 * of the original (p = 0.5); each round mixes additively or multiplicatively (p = 0.5) with
 * PixMix's Beta(β,1)/Beta(1,β) weights and clips to [0, 1]. Labels are untouched: image i of the
 * output is derived from image i of the input only.
 */
import { AresError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { augmentImage, type Shape3 } from './augmentations.js';
import type { FractalBank } from './fractals.js';

export interface PixMixConfig {
  /** k: the most mixing rounds per image; each image gets 1..k (uniform). PixMix/ARES: 4. */
  rounds: number;
  /** β of the mixing weights. PixMix/ARES (α1 in the paper): 3. */
  beta: number;
  /** Severity of the nine augmentations. PixMix: 3. */
  severity: number;
  /** Chance to start from an augmented copy instead of the image itself. PixMix: 0.5. */
  startAugmentProb: number;
  /** Chance that a round after the first mixes with an augmentation instead of the fractal. PixMix: 0.5. */
  augmentMixProb: number;
}

export const DEFAULT_PIXMIX: PixMixConfig = { rounds: 4, beta: 3, severity: 3, startAugmentProb: 0.5, augmentMixProb: 0.5 };

/**
 * PixMix's mixing weights: half the time a convex-ish pair (a ~ Beta(β,1), b ~ Beta(1,β)),
 * half the time an extrapolating one (a = 1 + Beta(1,β), b = −Beta(1,β)) that pushes away
 * from the mixing picture.
 */
export function mixingWeights(rng: Rng, beta: number): [number, number] {
  if (rng.uniform() < 0.5) return [rng.beta(beta, 1), rng.beta(1, beta)];
  return [1 + rng.beta(1, beta), -rng.beta(1, beta)];
}

/** Additive mixing in [−1, 1] space: ((a(2x−1) + b(2y−1)) + 1)/2, clipped to [0, 1]; in place on x. */
export function mixAdd(x: Float32Array, y: Float32Array, a: number, b: number): void {
  for (let i = 0; i < x.length; i++) {
    const v = (a * (2 * x[i] - 1) + b * (2 * y[i] - 1) + 1) / 2;
    x[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
  }
}

/**
 * Multiplicative mixing, a weighted geometric mean in [0, 2] space: (2x)^a · (2y)^b / 2, with y
 * floored at 1e-37 so a negative b cannot divide by zero; clipped to [0, 1]; in place on x.
 */
export function mixMultiply(x: Float32Array, y: Float32Array, a: number, b: number): void {
  // exp(a·ln 2x + b·ln 2y) is the same number as the two powers, about 10× faster in V8.
  const zeroTerm = a > 0 ? -Infinity : 0; // (2·0)^a
  for (let i = 0; i < x.length; i++) {
    const lx = x[i] > 0 ? a * Math.log(2 * x[i]) : zeroTerm;
    const v = Math.exp(lx + b * Math.log(Math.max(2 * y[i], 1e-37))) / 2;
    x[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
  }
}

/** Scratch buffers for one image, reused across a batch. */
interface Scratch { aug: Float32Array; fractal: Float32Array }

function pixmixOne(src: Float32Array, dst: Float32Array, shape: Shape3, bank: FractalBank, rng: Rng, cfg: PixMixConfig, s: Scratch): void {
  const size = src.length;
  const f = rng.int(bank.count);
  s.fractal.set(bank.images.subarray(f * size, (f + 1) * size));
  if (rng.uniform() < cfg.startAugmentProb) augmentImage(src, dst, shape, rng, cfg.severity);
  else dst.set(src);
  const rounds = 1 + rng.int(cfg.rounds);
  for (let r = 0; r < rounds; r++) {
    let partner = s.fractal;
    if (r > 0 && rng.uniform() < cfg.augmentMixProb) {
      augmentImage(src, s.aug, shape, rng, cfg.severity);
      partner = s.aug;
    }
    const [a, b] = mixingWeights(rng, cfg.beta);
    if (rng.uniform() < 0.5) mixAdd(dst, partner, a, b);
    else mixMultiply(dst, partner, a, b);
  }
}

function checkConfig(cfg: PixMixConfig): void {
  if (!Number.isInteger(cfg.rounds) || cfg.rounds < 1) throw new AresError(`pixmix rounds must be an integer >= 1, got ${cfg.rounds}`);
  if (!(cfg.beta > 0)) throw new AresError(`pixmix beta must be > 0, got ${cfg.beta}`);
  if (!(cfg.severity >= 0.1 && cfg.severity <= 10)) throw new AresError(`pixmix severity must be in [0.1, 10], got ${cfg.severity}`);
}

/**
 * PixMix on a batch. x: B images NHWC in [0, 1] ([B, H, W, C] flattened); returns a new array
 * of the same layout (or fills `out`). Deterministic given the rng's state.
 */
export function pixmixBatch(
  x: Float32Array, shape: Shape3, bank: FractalBank, rng: Rng,
  config: Partial<PixMixConfig> = {}, out?: Float32Array,
): Float32Array {
  const cfg = { ...DEFAULT_PIXMIX, ...config };
  checkConfig(cfg);
  const size = shape[0] * shape[1] * shape[2];
  if (!(size > 0) || x.length % size !== 0) {
    throw new AresError(`pixmix: batch of ${x.length} values is not a whole number of ${shape.join('x')} images`);
  }
  if (bank.shape.some((v, i) => v !== shape[i])) {
    throw new AresError(`pixmix: fractal bank ${bank.name} holds ${bank.shape.join('x')} images but the data are ${shape.join('x')}`);
  }
  if (bank.count < 1) throw new AresError(`pixmix: fractal bank ${bank.name} is empty`);
  const result = out ?? new Float32Array(x.length);
  if (out && out.buffer === x.buffer) throw new AresError('pixmix: the output buffer must not share memory with the input');
  if (result.length !== x.length) throw new AresError(`pixmix: output buffer holds ${result.length} values, expected ${x.length}`);
  const scratch: Scratch = { aug: new Float32Array(size), fractal: new Float32Array(size) };
  for (let i = 0; i < x.length / size; i++) {
    pixmixOne(x.subarray(i * size, (i + 1) * size), result.subarray(i * size, (i + 1) * size), shape, bank, rng, cfg, scratch);
  }
  return result;
}

/** A labelled batch after Escape: new pixels, the same labels in the same order (paper Eq. 2). */
export function escapeBatch<L extends Int32Array | undefined>(
  batch: { images: Float32Array; labels: L }, shape: Shape3, bank: FractalBank, rng: Rng, config: Partial<PixMixConfig> = {},
): { images: Float32Array; labels: L } {
  const images = pixmixBatch(batch.images, shape, bank, rng, config);
  if (batch.labels && batch.labels.length * shape[0] * shape[1] * shape[2] !== images.length) {
    throw new AresError(`pixmix: ${batch.labels.length} labels for ${images.length / (shape[0] * shape[1] * shape[2])} images`);
  }
  return { images, labels: batch.labels };
}
