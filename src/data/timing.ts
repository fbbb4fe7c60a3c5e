import { Rng } from '../util/rng.js';
import { randomCropFlip } from './augment.js';
import { batches } from './batches.js';
import { generateSet } from './generated.js';
import { computeNormalization, normalizeInPlace } from './normalize.js';
import type { Shape } from './types.js';

/**
 * Times the CPU side of feeding the trainer: gather a shuffled batch, optionally augment it
 * (crop+flip, or any function given, e.g. PixMix), normalise it. For `ares bench` to report next to
 * the step time. Milliseconds per batch, median over `iterations` after `warmup` batches.
 */
export interface BatchingTiming {
  shape: Shape;
  batchSize: number;
  iterations: number;
  /** Median ms per batch for gather + normalise. */
  msPerBatch: number;
  /** Median ms per batch for the augmentation alone (0 when none). */
  msAugmentPerBatch: number;
  imagesPerSecond: number;
}

export type BatchAugment = (x: Float32Array, shape: Shape, rng: Rng) => Float32Array | void;

export function timeBatching(opts: {
  shape: Shape;
  batchSize?: number;
  iterations?: number;
  warmup?: number;
  /** 'crop-flip' for the CIFAR augmentation, a function, or none. */
  augment?: 'crop-flip' | BatchAugment;
  seed?: number;
}): BatchingTiming {
  const batchSize = opts.batchSize ?? 128;
  const iterations = opts.iterations ?? 50;
  const warmup = opts.warmup ?? 5;
  const total = warmup + iterations;
  // Enough distinct images that gathers miss the cache the way a real epoch does.
  const set = generateSet('uniform', { shape: opts.shape, count: Math.max(4 * batchSize, 2048), seed: opts.seed ?? 0 });
  const norm = computeNormalization(set);
  const rng = new Rng(opts.seed ?? 0);
  const augment: BatchAugment | null = opts.augment === 'crop-flip'
    ? (x, s, r) => randomCropFlip(x, s, r)
    : opts.augment ?? null;
  const gather: number[] = [];
  const aug: number[] = [];
  for (let epoch = 0; gather.length < total; epoch++) {
    const it = batches(set, { batchSize, seed: opts.seed ?? 0, epoch, dropLast: true });
    for (;;) {
      if (gather.length >= total) break;
      const t0 = performance.now();
      const next = it.next();
      const t1 = performance.now();
      if (next.done) break;
      let x = next.value.x;
      if (augment) x = augment(x, set.shape, rng) ?? x;
      const t2 = performance.now();
      normalizeInPlace(x, set.shape[2], norm);
      const t3 = performance.now();
      gather.push(t1 - t0 + (t3 - t2));
      aug.push(t2 - t1);
    }
  }
  const ms = median(gather.slice(warmup));
  const msAug = augment ? median(aug.slice(warmup)) : 0;
  return { shape: opts.shape, batchSize, iterations, msPerBatch: ms, msAugmentPerBatch: msAug, imagesPerSecond: batchSize / ((ms + msAug) / 1000) };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
