import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import { AresError } from '../../errors.js';
import { wasmMemory, type WasmBackendInternals } from '../wasm-init.js';

/**
 * Runs this project's wasm SIMD kernels (src/engine/kernels/*.c) on the tfjs wasm backend's own
 * memory, so they read and write tensors in place. With the threaded (shared-memory) build the
 * kernels also run in helper worker threads: a call splits its output into `threads` disjoint
 * parts, the calling thread computes part 0 and each helper one other part.
 */

// Control block shared with the helpers (Int32 slots).
const SEQ = 0;       // bumped once per call; helpers wait on it
const DONE = 1;      // helpers that finished the current call
const FN = 2;        // index into KERNEL_NAMES, or -1 to stop
const FAILED = 3;    // bit p set by the helper computing part p when its kernel threw
const NARGS = 4;
const HEAP_PAGES = 5; // the heap's size in 64 KiB pages when the call was made
const INJECT = 6;    // tests: bit p makes part p's helper throw on the next call
const ARGS = 7;
const MAX_ARGS = 12;
const MSG = ARGS + MAX_ARGS; // the first failing helper's error text (UTF-16 code units, length first)
const MSG_CHARS = 240;
const CTRL_SLOTS = MSG + 1 + MSG_CHARS;

export const KERNEL_NAMES = [
  'conv2d_dw', 'conv2d_dw_scalar', 'pad_nhwc', 'transpose_taps', 'gather_conv', 'pack_panels', 'pack_octets', 'im2col_quads', 'conv2d_dw_tap',
  'wino_filter', 'wino_scratch', 'wino_conv', 'rot180_swap', 'wino_dw_accumulate', 'wino_dw_finish',
  'wino4_filter', 'wino4_scratch', 'wino4_conv', 'wino4_dw_accumulate', 'wino4_dw_finish',
  'bn_stats_pass', 'bn_finish_mean', 'bn_forward_coef', 'bn_apply', 'bn_grad_pass', 'bn_grad_finish', 'bn_grad_apply',
  'maxpool_grad', 'matmul_t', 'matmul_t_scratch', 'relu_fwd', 'relu_grad',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

// Runs in each helper thread (CommonJS, evaluated from this string so it needs no file of its own).
const HELPER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, ctrl, part, nparts, names } = workerData;
const inst = new WebAssembly.Instance(module, { env: { memory } });
const fns = names.map((n) => inst.exports[n]);
const c = new Int32Array(ctrl);
// Read before saying ready: the calling thread may bump SEQ for its first call as soon as it
// hears, and a helper that read SEQ after that bump would wait for a call that already came.
let seen = Atomics.load(c, ${SEQ});
parentPort.postMessage('ready');
let pages = -1;
for (;;) {
  Atomics.wait(c, ${SEQ}, seen);
  seen = Atomics.load(c, ${SEQ});
  const f = c[${FN}];
  if (f < 0) break;
  const args = [];
  for (let i = 0; i < c[${NARGS}]; i++) args.push(c[${ARGS} + i]);
  // A heap grown by the main thread reaches this thread's instance asynchronously in V8; grow(0)
  // makes this thread take the new size now, so the kernel cannot trap on freshly allocated memory.
  if (c[${HEAP_PAGES}] !== pages) { memory.grow(0); pages = c[${HEAP_PAGES}]; }
  try {
    if (Atomics.load(c, ${INJECT}) & (1 << part)) { Atomics.and(c, ${INJECT}, ~(1 << part)); throw new Error('injected failure (test)'); }
    fns[f](...args, part, nparts);
  } catch (e) {
    // The text goes where the calling thread reads it synchronously (a message would arrive after
    // the call returned); the first failing helper writes it.
    if (Atomics.or(c, ${FAILED}, 1 << part) === 0) {
      const text = String(e).slice(0, ${MSG_CHARS});
      for (let i = 0; i < text.length; i++) c[${MSG} + 1 + i] = text.charCodeAt(i);
      c[${MSG}] = text.length;
    }
  }
  Atomics.add(c, ${DONE}, 1);
  Atomics.notify(c, ${DONE});
}
`;

type KernelFn = (...args: number[]) => number;

/**
 * Which build of the kernels runs: 'relaxed' uses relaxed SIMD's f32x4.relaxed_madd in the
 * multiply-accumulate loops (fused where the CPU has FMA), 'plain' separate mul and add (runs on
 * every wasm SIMD engine).
 */
export type KernelBuild = 'plain' | 'relaxed';

// A module whose one function is f32x4.relaxed_madd of its three v128 parameters: validates
// exactly where the engine supports relaxed SIMD.
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,              // magic, version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,  // type: (v128 v128 v128) -> v128
  0x03, 0x02, 0x01, 0x00,                                      // one function of that type
  0x0a, 0x0d, 0x01, 0x0b, 0x00,                                // code: one body, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,  // local.get 0 1 2, relaxed_madd, end
]);

/**
 * Whether this engine runs relaxed SIMD. Node 22 and current browsers do by default; Node 20's V8
 * (11.3) has it behind --experimental-wasm-relaxed-simd, which a process may still turn on for
 * itself here: V8 reads wasm feature flags when it validates a module, so setting the flag before
 * compiling the kernels suffices, even after tfjs compiled its own wasm.
 */
export function relaxedSimdSupported(): boolean {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(RELAXED_PROBE);
}

// A module exporting f(a, b, c) = lane 0 of f32x4.relaxed_madd(splat a, splat b, splat c).
const MADD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7d, 0x7d, 0x7d, 0x01, 0x7d,  // type: (f32 f32 f32) -> f32
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,                    // export "f"
  0x0a, 0x16, 0x01, 0x14, 0x00,
  0x20, 0x00, 0xfd, 0x13, 0x20, 0x01, 0xfd, 0x13, 0x20, 0x02, 0xfd, 0x13,  // splat each argument
  0xfd, 0x85, 0x02, 0xfd, 0x1f, 0x00, 0x0b,                    // relaxed_madd, extract lane 0, end
]);

/**
 * Whether this engine's relaxed_madd is fused (one rounding), which the relaxed SIMD spec leaves
 * to the engine (V8 fuses where the CPU has FMA). With a = 1 + 2^-12 the exact a*a + c is
 * 2^-24 for c = -(1 + 2^-11); rounding the product first loses that 2^-24 and leaves 0.
 */
export function relaxedMaddFuses(): boolean {
  if (!relaxedSimdSupported()) return false;
  const f = new WebAssembly.Instance(new WebAssembly.Module(MADD_PROBE)).exports.f as (a: number, b: number, c: number) => number;
  const a = 1 + 2 ** -12;
  return f(a, a, -(1 + 2 ** -11)) !== 0;
}

/**
 * The kernel build to load: ARES_WASM_SIMD=plain|relaxed forces one (tests, benchmarks), unset or
 * empty picks relaxed where supported.
 */
export function chooseKernelBuild(env: string | undefined = process.env.ARES_WASM_SIMD): KernelBuild {
  const forced = env?.trim();
  if (forced === 'plain') return 'plain';
  if (forced === 'relaxed') {
    if (!relaxedSimdSupported()) throw new AresError(`ARES_WASM_SIMD=relaxed: this engine (Node ${process.version}) does not support relaxed SIMD; unset it or use ARES_WASM_SIMD=plain`, { exitCode: 2 });
    return 'relaxed';
  }
  if (forced) throw new AresError(`ARES_WASM_SIMD must be plain or relaxed (or unset to detect), not "${forced}"`, { exitCode: 2 });
  return relaxedSimdSupported() ? 'relaxed' : 'plain';
}

/** The built kernels: next to this file, or (when running tsc's dist/ output) in src/. */
function kernelBytes(shared: boolean, build: KernelBuild): Uint8Array<ArrayBuffer> {
  const name = `kernels${build === 'relaxed' ? '-relaxed' : ''}${shared ? '-shared' : ''}.wasm`;
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../../src/engine/kernels/${name}`, import.meta.url)];
  for (const url of candidates) {
    if (existsSync(url)) return new Uint8Array(readFileSync(url));
  }
  throw new AresError(`missing ${fileURLToPath(candidates[0])}: build it with scripts/build-kernels.sh`);
}

export class KernelRuntime {
  private readonly fns: Record<KernelName, KernelFn>;
  private readonly ctrl: Int32Array;
  private readonly helpers: Worker[];

  private constructor(private readonly be: WasmBackendInternals, private readonly memory: WebAssembly.Memory,
    fns: Record<KernelName, KernelFn>, ctrl: Int32Array, helpers: Worker[], readonly build: KernelBuild) {
    this.fns = fns; this.ctrl = ctrl; this.helpers = helpers;
  }

  /** Threads a call runs on (1 + helpers). */
  get threads(): number { return this.helpers.length + 1; }

  /**
   * Instantiates the kernels on the backend's memory; `threads` > 1 needs the shared-memory build.
   * `build` defaults to chooseKernelBuild()'s choice.
   */
  static async create(backend: tf.KernelBackend, threads: number, build: KernelBuild = chooseKernelBuild()): Promise<KernelRuntime> {
    const be = backend as unknown as WasmBackendInternals;
    const memory = wasmMemory(be);
    const shared = memory.buffer instanceof SharedArrayBuffer;
    if (build === 'relaxed' && !relaxedSimdSupported()) throw new AresError(`internal: relaxed SIMD kernels asked for on an engine without relaxed SIMD`);
    const module = new WebAssembly.Module(kernelBytes(shared, build));
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const fns = Object.fromEntries(KERNEL_NAMES.map((n) => {
      const f = instance.exports[n];
      if (typeof f !== 'function') throw new AresError(`internal: kernel module lacks ${n} (rerun scripts/build-kernels.sh)`);
      return [n, f as KernelFn];
    })) as Record<KernelName, KernelFn>;
    const nhelpers = shared ? Math.max(0, threads - 1) : 0;
    const ctrl = new Int32Array(new SharedArrayBuffer(4 * CTRL_SLOTS));
    const helpers = await Promise.all(Array.from({ length: nhelpers }, (_, i) => startHelper(module, memory, ctrl, i + 1, nhelpers + 1)));
    return new KernelRuntime(be, memory, fns, ctrl, helpers, build);
  }

  /** Heap offset of a tensor's data. */
  ptr(t: tf.TensorInfo): number { return this.be.dataIdMap.get(t.dataId).memoryOffset; }

  malloc(bytes: number): number {
    // emscripten's _malloc returns a signed i32: addresses past 2 GiB come back negative.
    const p = this.be.wasm._malloc(bytes) >>> 0;
    if (!p) throw new AresError(`out of wasm memory allocating ${bytes} bytes`);
    return p;
  }

  free(p: number): void { this.be.wasm._free(p); }

  /** A fresh Int32 view of the heap (the buffer changes when the heap grows). */
  heapI32(): Int32Array { return new Int32Array(this.memory.buffer); }

  /** Allocates and fills an i32 array on the heap; the caller frees it. */
  ints(values: number[]): number {
    const p = this.malloc(4 * values.length);
    this.heapI32().set(values, p >>> 2);
    return p;
  }

  /** Calls a kernel on the calling thread only (setup helpers, sizes). */
  call1(name: KernelName, ...args: number[]): number { return this.fns[name](...args); }

  /** Calls a kernel split over all threads; `args` exclude the trailing (part, nparts). */
  run(name: KernelName, ...args: number[]): void {
    const n = this.threads;
    if (n === 1) { this.fns[name](...args, 0, 1); return; }
    if (args.length > MAX_ARGS) throw new AresError(`internal: too many kernel arguments for ${name}`);
    const c = this.ctrl;
    c[FN] = KERNEL_NAMES.indexOf(name);
    c[NARGS] = args.length;
    c[HEAP_PAGES] = this.memory.buffer.byteLength / 65536;
    for (let i = 0; i < args.length; i++) c[ARGS + i] = args[i];
    Atomics.store(c, DONE, 0);
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    let own: { error: unknown } | null = null;
    try { this.fns[name](...args, 0, n); } catch (error) { own = { error }; }
    // Even when this thread's part threw: the next call must not start while a helper still runs
    // this one, nor find this call's failure bits.
    const want = n - 1;
    let done: number;
    while ((done = Atomics.load(c, DONE)) < want) Atomics.wait(c, DONE, done);
    const failed = Atomics.exchange(c, FAILED, 0);
    if (own) throw own.error;
    if (failed) this.recomputeFailedParts(name, args, failed);
  }

  /**
   * A helper whose part threw (CI saw this rarely and never reproducibly, on a kernel that runs
   * correctly everywhere else) has its part computed again here: every kernel's part overwrites
   * its own disjoint output and scratch from its inputs, so a second run of it gives the same
   * result. Only when this thread fails too is the call an error, with both threads' messages.
   */
  private recomputeFailedParts(name: KernelName, args: number[], failed: number): void {
    const c = this.ctrl;
    const helperMessage = String.fromCharCode(...Array.from(c.subarray(MSG + 1, MSG + 1 + c[MSG])));
    for (let part = 1; part < this.threads; part++) {
      if (!(failed & (1 << part))) continue;
      try {
        this.fns[name](...args, part, this.threads);
      } catch (e) {
        throw new AresError(`internal: kernel ${name} failed in a helper thread (${helperMessage}) and again on the calling thread (${String(e)})`);
      }
      this.recovered.push(`${name}: ${helperMessage}`);
      if (this.recovered.length === 1) process.stderr.write(`ares: warning: kernel ${name} failed in a helper thread (${helperMessage}); its part was recomputed on the calling thread\n`);
    }
  }

  /** Helper-thread failures recomputed on the calling thread so far ("kernel: error"). */
  readonly recovered: string[] = [];

  /** Tests: makes the helper computing `part` throw on the next call. */
  failHelperOnNextCall(part: number): void { Atomics.or(this.ctrl, INJECT, 1 << part); }

  /** Stops the helper threads. */
  async dispose(): Promise<void> {
    const c = this.ctrl;
    c[FN] = -1;
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    await Promise.all(this.helpers.map((w) => w.terminate()));
  }
}

function startHelper(module: WebAssembly.Module, memory: WebAssembly.Memory, ctrl: Int32Array,
  part: number, nparts: number): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { module, memory, ctrl: ctrl.buffer, part, nparts, names: KERNEL_NAMES },
    });
    w.once('message', () => { w.unref(); resolve(w); });
    w.once('error', reject);
  });
}
