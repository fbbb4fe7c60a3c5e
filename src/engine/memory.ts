import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';

/**
 * Leak checks for training loops: a step that leaves one tensor behind per call exhausts memory
 * only after thousands of steps, so loops and tests check the live-tensor count instead.
 */
export interface MemorySnapshot {
  /** Live tensors (tf.memory().numTensors). */
  tensors: number;
  /** Bytes those tensors hold. */
  bytes: number;
}

export function memorySnapshot(): MemorySnapshot {
  const m = tf.memory();
  return { tensors: m.numTensors, bytes: m.numBytes };
}

/**
 * Runs `step` once to warm up (first calls may create lasting state, e.g. optimiser buffers),
 * then `steps` more times; returns how many live tensors the later calls added in total.
 */
export function tensorGrowth(step: () => void, steps = 3): number {
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) step();
  return tf.memory().numTensors - before;
}

/** Throws when `step` leaks tensors (see tensorGrowth). */
export function assertNoTensorGrowth(step: () => void, what: string, steps = 3): void {
  const grown = tensorGrowth(step, steps);
  if (grown !== 0) throw new AresError(`${what} leaks tensors: ${grown} more live after ${steps} calls`);
}

/**
 * Forward passes (fit, eval, predict, benchmark) run in batches whose live engine memory stays
 * under this budget. A batch runs inside one tf.tidy, which keeps every activation of the pass
 * alive until it ends, so the memory of a batch is the sum of the model's activations times the
 * batch: at 224×224 (MobileNetV2) that is tens of MB per image, and the fixed batch of 256 used
 * before crashed the 4 GiB wasm heap. 256 MiB keeps a pass far below the heap limit and costs
 * little speed: even a batch of a few 224×224 images keeps the kernels busy.
 */
export const FORWARD_BUDGET_BYTES = 256 * 2 ** 20;

/** The largest forward batch: the fixed size used before batches were sized, so small models keep it. */
export const MAX_FORWARD_BATCH = 256;

/** Engine bytes a forward pass of a batch holds at its peak: fixedBytes + perImageBytes · batch. */
export interface ForwardMemory {
  fixedBytes: number;
  perImageBytes: number;
}

/** Counts engine bytes at their peak (the wasm heap meter, src/engine/heap.ts, registers itself here). */
export interface PeakMeter {
  readonly live: number;
  readonly peak: number;
  resetPeak(): void;
}

let peakMeter: { meter: PeakMeter; backend: string } | null = null;

/** Called by the heap meter once installed: forward batches are then sized on exact byte counts. This module stays pure tfjs (the browser bundle imports it). */
export function registerPeakMeter(meter: PeakMeter, backend: string): void {
  peakMeter = { meter, backend };
}

/**
 * Measures the peak engine bytes of `run` (one forward pass, called inside a tf.tidy) on batches
 * of blank images of `shape` and fits a line through the last two. The batches grow 1, 4, 16 and
 * stop early once a pass holds an eighth of `budget`: the peak is the largest of several sums
 * (fixed kernel scratch wins at tiny batches, activations at larger ones), so the slope is taken
 * where the activations already show, while a 224×224 model is probed with 5 images only.
 * With the heap meter (wasm backend in Node) every allocation counts, kernel scratch included;
 * elsewhere (cpu, webgl in a browser) the most tensor bytes alive after any kernel of the pass
 * (tfjs frees a pass's intermediates as it goes, so what the tidy holds at the end is far less).
 */
export function measureForwardMemory(run: (x: tf.Tensor4D) => unknown, shape: readonly [number, number, number], budget = FORWARD_BUDGET_BYTES): ForwardMemory {
  const meter = peakMeter && tf.getBackend() === peakMeter.backend ? peakMeter.meter : null;
  const peakOf = (batch: number): number => {
    if (meter) {
      const before = meter.live;
      meter.resetPeak();
      tf.tidy(() => { run(tf.zeros([batch, ...shape])); });
      return meter.peak - before;
    }
    const before = tf.memory().numBytes;
    let peak = before;
    watchKernels(() => { peak = Math.max(peak, tf.memory().numBytes); }, () => tf.tidy(() => { run(tf.zeros([batch, ...shape])); }));
    return peak - before;
  };
  let prev = { batch: 1, peak: peakOf(1) };
  let last = { batch: 4, peak: peakOf(4) };
  if (last.peak < budget / 8) [prev, last] = [last, { batch: 16, peak: peakOf(16) }];
  const perImageBytes = Math.max(0, (last.peak - prev.peak) / (last.batch - prev.batch));
  return { fixedBytes: Math.max(0, last.peak - perImageBytes * last.batch), perImageBytes };
}

/**
 * Runs `f` with `afterKernel` called after every kernel tfjs runs: every op goes through the
 * engine's runKernel, which is wrapped on the engine object for the duration (public tf.engine()).
 */
function watchKernels(afterKernel: () => void, f: () => void): void {
  const engine = tf.engine() as unknown as { runKernel: (...args: unknown[]) => unknown };
  const own = Object.prototype.hasOwnProperty.call(engine, 'runKernel');
  const original = engine.runKernel;
  engine.runKernel = function (this: unknown, ...args: unknown[]) {
    const out = original.apply(this, args);
    afterKernel();
    return out;
  };
  try {
    f();
  } finally {
    if (own) engine.runKernel = original;
    else delete (engine as { runKernel?: unknown }).runKernel;
  }
}

/** The largest batch whose forward pass fits `budget` (at least 1, at most `cap`). */
export function forwardBatchSize(m: ForwardMemory, budget = FORWARD_BUDGET_BYTES, cap = MAX_FORWARD_BATCH): number {
  if (!(m.perImageBytes > 0)) return cap;
  return Math.max(1, Math.min(cap, Math.floor((budget - m.fixedBytes) / m.perImageBytes)));
}

/**
 * Frees `things` after `err` was thrown, without letting a failure of the clean-up replace `err`:
 * after a wasm trap (out of bounds, out of memory) dispose() usually throws too, and the user must
 * see the first error, which says what went wrong. The clean-up's error rides along on err.suppressed.
 */
export function disposeAfterError(err: unknown, ...things: ({ dispose(): void } | null | undefined)[]): void {
  for (const t of things) {
    try {
      t?.dispose();
    } catch (cleanup) {
      if (err instanceof Error && !('suppressed' in err)) Object.defineProperty(err, 'suppressed', { value: cleanup, enumerable: false });
    }
  }
}
