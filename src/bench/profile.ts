import * as tf from '@tensorflow/tfjs';
import { engineInfo } from '../engine/backend.js';
import { winogradFits } from '../engine/kernels/conv.js';
import { checkCount, type BenchOptions } from './harness.js';
import { benchStepFactory } from './registry.js';

/**
 * Per-op profile of a bench step (`ares bench --profile`): every kernel the step runs, timed by
 * tfjs's profiler (on wasm, wall time around each kernel, which runs synchronously), summed by
 * kernel name and, for convolutions, by kind: filter size, stride, and whether the Winograd path
 * of src/engine/kernels/conv.ts takes it. Which op holds a step back is what the table is for.
 */

/** The part of tfjs's KernelInfo a profile reads. */
export interface KernelRecord {
  name: string;
  inputShapes: Array<number[] | null>;
  outputShapes: number[][];
  ms: number;
}

const CONV_FORWARD = new Set(['Conv2D', 'FusedConv2D']);
const DEPTHWISE = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2D',
  'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']);

/** Stride of a 'same'- or 'valid'-padded convolution from its input and output heights/widths. */
const strideOf = (inSize: number, outSize: number) => Math.max(1, Math.round(inSize / outSize));

function convKind(KH: number, KW: number, sh: number, sw: number, winograd: boolean): string {
  const stride = sh === sw ? `s${sh}` : `s${sh}x${sw}`;
  return `${KH}x${KW} ${stride}${winograd ? ' winograd' : ''}`;
}

/**
 * The row a kernel call is summed into: its kernel name, and for convolutions the kind, read off
 * the shapes (NHWC): forward [x, filter] -> y; dX [dy, filter] -> dx; dW [x, dy] -> filter.
 */
export function opLabel(r: KernelRecord): string {
  const [a, b] = r.inputShapes;
  const y = r.outputShapes[0];
  if (!a || !b || !y || a.length !== 4 || b.length !== 4 || y.length !== 4) return r.name;
  if (CONV_FORWARD.has(r.name)) {
    const [KH, KW, Ci, Co] = b, sh = strideOf(a[1], y[1]), sw = strideOf(a[2], y[2]);
    return `${r.name} ${convKind(KH, KW, sh, sw, winogradFits(KH, KW, sh, sw, Ci, Co))}`;
  }
  if (r.name === 'Conv2DBackpropInput') {
    const [KH, KW, Ci, Co] = b, sh = strideOf(y[1], a[1]), sw = strideOf(y[2], a[2]);
    // dX runs as a forward convolution from Co to Ci channels.
    return `${r.name} (dX) ${convKind(KH, KW, sh, sw, winogradFits(KH, KW, sh, sw, Co, Ci))}`;
  }
  if (r.name === 'Conv2DBackpropFilter') {
    const [KH, KW, Ci, Co] = y, sh = strideOf(a[1], b[1]), sw = strideOf(a[2], b[2]);
    return `${r.name} (dW) ${convKind(KH, KW, sh, sw, winogradFits(KH, KW, sh, sw, Ci, Co))}`;
  }
  if (DEPTHWISE.has(r.name)) {
    // Forward and dX carry the filter second; dW's output is the filter.
    const f = r.name.endsWith('BackpropFilter') ? y : b;
    const [big, small] = r.name.endsWith('BackpropInput') ? [y, a] : r.name.endsWith('BackpropFilter') ? [a, b] : [a, y];
    return `${r.name} ${convKind(f[0], f[1], strideOf(big[1], small[1]), strideOf(big[2], small[2]), false)}`;
  }
  return r.name;
}

export interface ProfileRow {
  op: string;
  calls: number;
  /** Milliseconds per step. */
  ms: number;
  /** Fraction of the summed kernel time. */
  share: number;
}

/** Sums kernel calls by opLabel, per step, largest first. */
export function aggregateProfile(records: readonly KernelRecord[], steps: number): ProfileRow[] {
  const rows = new Map<string, { calls: number; ms: number }>();
  for (const r of records) {
    const label = opLabel(r);
    const row = rows.get(label) ?? { calls: 0, ms: 0 };
    row.calls++;
    row.ms += r.ms;
    rows.set(label, row);
  }
  const total = records.reduce((s, r) => s + r.ms, 0);
  return [...rows].map(([op, { calls, ms }]) => ({ op, calls: calls / steps, ms: ms / steps, share: total > 0 ? ms / total : 0 }))
    .sort((p, q) => q.ms - p.ms || p.op.localeCompare(q.op));
}

/** What `ares bench` takes, less the clock: `steps` are the profiled steps (the table is per step). */
export type ProfileOptions = Omit<BenchOptions, 'clock'>;

export interface ProfileResult {
  model: string;
  method: string;
  backend: string;
  threads: number;
  batch: number;
  steps: number;
  /** Wall time per profiled step (profiling adds a little to it). */
  step_ms: number;
  /** Summed kernel time per step; the rest of step_ms is JavaScript between kernels. */
  kernel_ms: number;
  rows: ProfileRow[];
}

/** Runs `warmup` plain steps, then profiles `steps` steps. The engine must be initialised. */
export async function profileBench(opts: ProfileOptions): Promise<ProfileResult> {
  checkCount('batch', opts.batch, 1);
  checkCount('steps', opts.steps, 1);
  checkCount('warmup', opts.warmup, 0);
  const engine = engineInfo();
  const bench = await benchStepFactory(opts.model, opts.method)({ batch: opts.batch, seed: opts.seed });
  try {
    for (let i = 0; i < opts.warmup; i++) bench.step();
    const t0 = performance.now();
    const info = await tf.profile(() => { for (let i = 0; i < opts.steps; i++) bench.step(); });
    const wall = performance.now() - t0;
    const records: KernelRecord[] = [];
    for (const k of info.kernels) {
      // Entries that are not a backend kernel are scopes (custom gradients) whose time is the
      // kernels inside them, which have their own entries.
      if (!tf.getKernel(k.name, engine.backend)) continue;
      const ms = await k.kernelTimeMs;
      if (typeof ms !== 'number') continue;
      records.push({ name: k.name, inputShapes: k.inputShapes, outputShapes: k.outputShapes, ms });
    }
    const rows = aggregateProfile(records, opts.steps);
    const round = (v: number) => Math.round(v * 100) / 100;
    return {
      model: opts.model, method: opts.method, backend: engine.backend, threads: engine.threads, batch: opts.batch, steps: opts.steps,
      step_ms: round(wall / opts.steps), kernel_ms: round(rows.reduce((s, r) => s + r.ms, 0)),
      rows: rows.map((r) => ({ ...r, ms: round(r.ms), share: Math.round(r.share * 1000) / 1000 })),
    };
  } finally {
    bench.dispose();
  }
}

/** A Markdown table (so it pastes into BENCHMARKS.md as it prints). */
export function formatProfile(p: ProfileResult): string {
  const head = `${p.model} / ${p.method} on ${p.backend} (${p.threads} thread${p.threads === 1 ? '' : 's'}), batch ${p.batch}, `
    + `${p.steps} profiled step${p.steps === 1 ? '' : 's'}: ${p.step_ms.toFixed(1)} ms/step, of which kernels ${p.kernel_ms.toFixed(1)} ms`;
  const lines = ['| op | calls/step | ms/step | % of kernel time |', '|---|---:|---:|---:|'];
  for (const r of p.rows) lines.push(`| ${r.op} | ${+r.calls.toFixed(2)} | ${r.ms.toFixed(2)} | ${(100 * r.share).toFixed(1)} |`);
  return [head, '', ...lines].join('\n');
}
