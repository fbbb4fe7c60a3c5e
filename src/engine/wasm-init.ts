import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { AresError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** The parts of tfjs's BackendWasm (and its emscripten module) this project reaches into. */
export interface WasmBackendInternals {
  wasm: {
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    HEAPU8: Uint8Array;
    asm?: { memory?: WebAssembly.Memory };
    wasmMemory?: WebAssembly.Memory;
    PThread?: { runningWorkers: Array<{ unref(): void }>; unusedWorkers: Array<{ unref(): void }> };
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number; shape: number[]; dtype: string } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** The backend's WebAssembly.Memory: shared in the threaded build, plain (growable) otherwise. */
export function wasmMemory(be: WasmBackendInternals): WebAssembly.Memory {
  const mem = be.wasm.wasmMemory ?? be.wasm.asm?.memory;
  if (!mem) throw new AresError('internal: cannot find the wasm backend\'s memory');
  return mem;
}

/**
 * Writes tfjs's pthread worker script to a real file once per content. Emscripten hands Node's
 * worker_threads a blob: URL, which Node rejects; a file path works. The prelude makes the
 * worker's own blob lookup (for the main script it imports) resolve to the package's file.
 */
function workerScriptFile(): { workerFile: string } {
  const require = createRequire(import.meta.url);
  const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const contents: string = require(path.join(path.dirname(mainScript), 'tfjs-backend-wasm-threaded-simd.worker.js')).wasmWorkerContents;
  // The published string holds raw newlines inside JS string literals; tfjs escapes them the same way.
  const source = `URL.createObjectURL = () => ${JSON.stringify(mainScript)}; URL.revokeObjectURL = () => {};\n`
    + contents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const workerFile = path.join(os.tmpdir(), `ares-ood-tfjs-wasm-worker-${hash}.cjs`);
  if (!existsSync(workerFile)) writeFileAtomic(workerFile, source);
  return { workerFile };
}

/**
 * Initialises tfjs's wasm backend for `threads` threads and returns how many it got. For
 * threads > 1 this loads the threaded SIMD build, which tfjs disables in Node (tfjs issue 3830),
 * with three local patches held only during initialisation: the multithread flag is forced on,
 * the worker script's blob URL becomes a file path, and the core count emscripten reads (os.cpus)
 * is made large enough for tfjs to grant the requested threads (it halves the count, assuming
 * hyper-threading). If that fails, it warns and falls back to the single-threaded build.
 */
export async function initWasmBackend(threads: number): Promise<number> {
  if (threads > 1 && typeof SharedArrayBuffer !== 'undefined') {
    try {
      if (await initThreaded(threads)) return threads;
      process.stderr.write(`ares: warning: the threaded wasm backend did not start; using 1 thread\n`);
    } catch (err) {
      process.stderr.write(`ares: warning: the threaded wasm backend did not start (${(err as Error).message}); using 1 thread\n`);
    }
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tfwasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new AresError('could not initialise the wasm backend');
  return 1;
}

async function initThreaded(threads: number): Promise<boolean> {
  const { workerFile } = workerScriptFile();
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfwasm.setThreadsCount(threads);
  URL.createObjectURL = () => workerFile;
  (os as { cpus: () => os.CpuInfo[] }).cpus = () => Array.from({ length: 2 * threads }, () => realCpus()[0]);
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    URL.createObjectURL = realCreateObjectURL;
    (os as { cpus: () => os.CpuInfo[] }).cpus = realCpus;
  }
  if (!ok) return false;
  // Emscripten keeps a running pthread's worker referenced, so XNNPACK's idle pool would keep
  // Node alive after the program ends.
  const pthread = (tf.backend() as unknown as WasmBackendInternals).wasm.PThread;
  for (const w of [...(pthread?.runningWorkers ?? []), ...(pthread?.unusedWorkers ?? [])]) w.unref();
  return true;
}
