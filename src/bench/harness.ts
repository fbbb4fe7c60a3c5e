import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { engineInfo } from '../engine/backend.js';
import { kernelRuntime } from '../engine/kernels/index.js';
import { checkBatchFits, heapMeter, measureStepMemory, preflightBatches } from '../engine/heap.js';
import { benchStepFactory, registerBenchStep } from './registry.js';
import { BENCH_INPUT, ceBenchStep } from './ce-step.js';
import { aresBenchStep } from './ares-step.js';
import { inferBenchStep, mobilenetFrozenBenchStep, mobilenetInferBenchStep } from './infer-step.js';

for (const [model, { shape, classes }] of Object.entries(BENCH_INPUT)) {
  registerBenchStep(model, 'ce', ceBenchStep(model));
  registerBenchStep(model, 'ares', aresBenchStep(model));
  registerBenchStep(model, 'infer', inferBenchStep(model, shape, classes));
}
registerBenchStep('mobilenetv2', 'infer', mobilenetInferBenchStep(true));
registerBenchStep('mobilenetv2', 'infer-layers', mobilenetInferBenchStep(false));
registerBenchStep('mobilenetv2', 'ce-frozen', mobilenetFrozenBenchStep);

export interface BenchOptions {
  model: string;
  method: string;
  batch: number;
  /** Timed steps. */
  steps: number;
  /** Untimed steps first (kernel compilation, allocator warm-up). */
  warmup: number;
  seed: number;
  /** Milliseconds clock (tests substitute one; default performance.now). */
  clock?: () => number;
}

export interface BenchResult {
  model: string;
  method: string;
  backend: string;
  threads: number;
  batch: number;
  steps: number;
  warmup: number;
  /** Median wall time of the timed steps. */
  ms_per_step: number;
  ms_min: number;
  ms_max: number;
  /**
   * Median process CPU time (user + system, every thread) of the timed steps: on a shared machine
   * less disturbed by other processes than wall time.
   */
  cpu_ms_per_step: number;
  images_per_s: number;
  /** Loss of the last step (a sanity check; same seed and backend give the same value). */
  loss: number;
  /** Tensors still alive after the timed steps minus before them (0 unless a step leaks). */
  tensor_growth: number;
  /**
   * Most engine bytes live at once during the timed steps (tensors, optimiser state and kernel
   * scratch; wasm only, else null).
   */
  peak_bytes: number | null;
  /** Size of the wasm heap after the steps (it never shrinks; wasm only, else null). */
  heap_bytes: number | null;
  custom_kernels: number;
  /** Which build of the project's wasm kernels ran ('plain' or 'relaxed' SIMD; null off wasm). */
  kernel_simd: string | null;
  cpu: string;
  node: string;
}

export const BENCH_DEFAULTS: Omit<BenchOptions, 'model' | 'method'> = { batch: 128, steps: 20, warmup: 3, seed: 0 };

export function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new AresError(`--${name} must be an integer >= ${min}, got ${v}`, { exitCode: 2 });
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Smaller batches skip the memory pre-flight (it would cost more than it could save). */
const PREFLIGHT_MIN_BATCH = 32;

const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

/** Times `steps` full training steps after `warmup` untimed ones. The engine must be initialised. */
export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  checkCount('batch', opts.batch, 1);
  checkCount('steps', opts.steps, 1);
  checkCount('warmup', opts.warmup, 0);
  const factory = benchStepFactory(opts.model, opts.method);
  const engine = engineInfo();
  const meter = engine.backend === 'wasm' ? heapMeter() : null;
  if (meter && opts.batch >= PREFLIGHT_MIN_BATCH) {
    // A batch that cannot fit in wasm memory fails here, with the largest batch that fits,
    // rather than partway through a step.
    const m = await measureStepMemory((batch) => factory({ batch, seed: opts.seed }), preflightBatches(opts.batch));
    checkBatchFits(`${opts.model} / ${opts.method}`, opts.batch, m);
  }
  const bench = await factory({ batch: opts.batch, seed: opts.seed });
  try {
    let loss = NaN;
    for (let i = 0; i < opts.warmup; i++) loss = await bench.step();
    const before = tf.memory().numTensors;
    meter?.resetPeak();
    const now = opts.clock ?? (() => performance.now());
    const times: number[] = [], cpu: number[] = [];
    for (let i = 0; i < opts.steps; i++) {
      const c0 = process.cpuUsage();
      const t0 = now();
      loss = await bench.step();
      times.push(now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    const growth = tf.memory().numTensors - before;
    const ms = median(times);
    return {
      model: opts.model, method: opts.method, backend: engine.backend, threads: engine.threads, batch: opts.batch,
      steps: opts.steps, warmup: opts.warmup,
      ms_per_step: round(ms), ms_min: round(Math.min(...times)), ms_max: round(Math.max(...times)),
      cpu_ms_per_step: round(median(cpu)), images_per_s: round(opts.batch / ms * 1000, 1), loss: round(loss, 6), tensor_growth: growth,
      peak_bytes: meter ? meter.peak : null, heap_bytes: meter ? meter.heapBytes() : null,
      custom_kernels: engine.customKernels.length, kernel_simd: engine.backend === 'wasm' ? kernelRuntime()?.build ?? null : null, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version,
    };
  } finally {
    bench.dispose();
  }
}

export function formatBench(r: BenchResult): string {
  return `${r.model} / ${r.method} on ${r.backend} (${r.threads} thread${r.threads === 1 ? '' : 's'}), batch ${r.batch}: `
    + `${r.ms_per_step.toFixed(1)} ms/step median of ${r.steps} after ${r.warmup} warm-up `
    + `(min ${r.ms_min.toFixed(1)}, max ${r.ms_max.toFixed(1)}), ${r.images_per_s.toFixed(0)} images/s, loss ${r.loss.toFixed(4)}`
    + (r.peak_bytes !== null ? `, peak engine memory ${(r.peak_bytes / 2 ** 20).toFixed(0)} MiB` : '')
    + (r.tensor_growth ? `\nwarning: ${r.tensor_growth} tensors leaked over ${r.steps} steps` : '');
}
