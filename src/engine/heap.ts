import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { registerPeakMeter } from './memory.js';
import { wasmMemory, type WasmBackendInternals } from './wasm-init.js';

/**
 * Engine memory on the wasm backend. Every tensor and every kernel scratch buffer is allocated
 * from JavaScript through the emscripten module's _malloc / _free, so wrapping those two counts
 * the live bytes exactly (tfjs's own tf.memory().numBytes counts a buffer once per tensor that
 * shares it, and the project's copy-free Identity makes many tensors share one). Allocations
 * made inside tfjs's C++ (XNNPACK's caches) are not seen; they are small next to activations.
 */
export interface HeapMeter {
  /** Bytes allocated from JavaScript and not yet freed, since the meter was installed. */
  readonly live: number;
  /** Most bytes live at once since the last resetPeak(). */
  readonly peak: number;
  resetPeak(): void;
  /** Size of the wasm heap now (it only grows). */
  heapBytes(): number;
}

let meter: HeapMeter | null = null;

/** Installs the meter on the wasm backend once; later calls return it. */
export function installHeapMeter(backend: tf.KernelBackend): HeapMeter {
  if (meter) return meter;
  const be = backend as unknown as WasmBackendInternals;
  const memory = wasmMemory(be);
  const sizes = new Map<number, number>();
  let live = 0, peak = 0;
  // emscripten's first call of each export replaces the property with the raw function; make
  // that happen now, or it would drop the wrappers below.
  be.wasm._free(be.wasm._malloc(16));
  const malloc = be.wasm._malloc.bind(be.wasm), free = be.wasm._free.bind(be.wasm);
  be.wasm._malloc = (bytes: number) => {
    const p = malloc(bytes);
    if (p) {
      sizes.set(p >>> 0, bytes);
      live += bytes;
      if (live > peak) peak = live;
    }
    return p;
  };
  be.wasm._free = (p: number) => {
    const bytes = sizes.get(p >>> 0);
    if (bytes !== undefined) { sizes.delete(p >>> 0); live -= bytes; }
    free(p);
  };
  meter = {
    get live() { return live; },
    get peak() { return peak; },
    resetPeak() { peak = live; },
    heapBytes: () => memory.buffer.byteLength,
  };
  registerPeakMeter(meter, 'wasm');
  return meter;
}

/** The heap meter, when the wasm backend is initialised. */
export function heapMeter(): HeapMeter | null { return meter; }

/**
 * The most the wasm heap can grow to: 4 GiB, the maximum both of tfjs's wasm builds declare
 * (65,536 pages of 64 KiB) and wasm32's address space. ARES_WASM_HEAP_LIMIT (bytes, or with a
 * K/M/G suffix) lowers it, so the out-of-memory check can be tried without 4 GiB of RAM.
 */
export const WASM_HEAP_MAX = 2 ** 32;

export function wasmHeapLimit(): number {
  const raw = process.env.ARES_WASM_HEAP_LIMIT?.trim();
  if (!raw) return WASM_HEAP_MAX;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?)?$/i.exec(raw);
  if (!m) throw new AresError(`ARES_WASM_HEAP_LIMIT must be a byte count such as 3G or 512M, got "${raw}"`, { exitCode: 2 });
  const unit = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2]?.[0] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Math.min(WASM_HEAP_MAX, Math.floor(Number(m[1]) * unit));
}

/** Peak engine bytes of a training step as a line in the batch size, from two measured batches. */
export interface StepMemory {
  /** Bytes that do not grow with the batch (weights, optimiser state, everything else alive). */
  fixedBytes: number;
  perImageBytes: number;
}

export function stepBytes(m: StepMemory, batch: number): number { return m.fixedBytes + m.perImageBytes * batch; }

/**
 * The wasm heap grows past the peak of live bytes: freed blocks are reused only by allocations
 * that fit them, and the kernels' scratch comes and goes between tensors. Measured on WRN-40-2
 * and ResNet-18 at batch 128 (BENCHMARKS.md: heap size after the step over peak live bytes,
 * 1.0x-1.1x); the margin keeps the estimate on the safe side.
 */
export const HEAP_OVERHEAD = 1.25;

/**
 * Throws an AresError, before any training, when a step of `what` at `batch` images would need
 * more wasm heap than the limit; it names the memory needed and the largest batch that fits.
 */
export function checkBatchFits(what: string, batch: number, m: StepMemory, limit = wasmHeapLimit()): void {
  const needed = HEAP_OVERHEAD * stepBytes(m, batch);
  if (needed <= limit) return;
  const largest = Math.floor((limit / HEAP_OVERHEAD - m.fixedBytes) / m.perImageBytes);
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  throw new AresError(`${what} at batch ${batch} needs about ${gib(needed)} of wasm memory, more than the ${gib(limit)} the wasm backend can address; `
    + (largest >= 1 ? `the largest batch that fits is ${largest}` : 'not even a batch of 1 fits'), { exitCode: 2 });
}

/**
 * The two batches a pre-flight for `batch` measures: a quarter and a half of it, at most 32 and
 * 64. The step's peak is the largest of several sums that each grow linearly with the batch
 * (fixed scratch wins at small batches, activations at large ones: the reference CNN's peak grows
 * 0.38 MB per image from 12 to 24 images, 0.68 from 24 to 48, 0.70 from 48 to 96), so the line is
 * fitted where activations dominate; the cap keeps the measurement itself small enough to fit
 * when the full batch does not, and its cost at most one and a half steps of batch 128.
 */
export function preflightBatches(batch: number): [number, number] {
  return [Math.max(2, Math.min(32, batch >> 2)), Math.max(4, Math.min(64, batch >> 1))];
}

export interface MeasuredStep { step(): unknown; dispose(): void }

/**
 * Measures the peak engine bytes of one step at two small batches (after one untimed step each,
 * which creates optimiser state) and fits the line through them. `make(batch)` builds a step.
 */
export async function measureStepMemory(make: (batch: number) => MeasuredStep | Promise<MeasuredStep>,
  batches: [number, number]): Promise<StepMemory> {
  const m = heapMeter();
  if (!m) throw new AresError('internal: the heap meter runs on the wasm backend only');
  const peaks: number[] = [];
  for (const b of batches) {
    const before = m.live;
    const s = await make(b);
    try {
      s.step();
      m.resetPeak();
      s.step();
      peaks.push(m.peak - before);
    } finally { s.dispose(); }
  }
  const perImageBytes = Math.max(0, (peaks[1] - peaks[0]) / (batches[1] - batches[0]));
  const fixedBytes = Math.max(0, peaks[0] - perImageBytes * batches[0]) + m.live;
  return { fixedBytes, perImageBytes };
}
