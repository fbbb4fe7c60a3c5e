import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { AresError } from '../errors.js';
import { initWasmBackend } from './wasm-init.js';
import { registerWasmKernels } from './kernels/index.js';
import { chooseKernelBuild } from './kernels/runtime.js';
import { installFrugalGradients } from './gradients.js';
import { installHeapMeter } from './heap.js';
import { probeWebGpu, startWebGpu } from './webgpu.js';
import { readFloat32 } from './read.js';
import { BACKEND_REQUESTS, type BackendName, type BackendRequest } from './backend-names.js';

export { BACKENDS, BACKEND_REQUESTS, type BackendName, type BackendRequest } from './backend-names.js';

export interface EngineInfo {
  backend: BackendName;
  /** Threads the backend computes with. */
  threads: number;
  /** Names of kernels this project registered on top of the backend's own. */
  customKernels: string[];
  /** The GPU adapter (webgpu only), e.g. "nvidia ampere (...)". */
  adapter?: string;
}

let current: EngineInfo | null = null;

/**
 * Threads for the wasm backend: ARES_THREADS, else every core (at most 8, the size of tfjs's
 * pre-spawned worker pool).
 */
export function requestedThreads(): number {
  const raw = process.env.ARES_THREADS?.trim();
  if (!raw) return Math.max(1, Math.min(8, os.cpus().length));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 8) {
    throw new AresError(`ARES_THREADS must be an integer from 1 to 8, got "${raw}"`, { exitCode: 2 });
  }
  return n;
}

/** The backend requested by --backend / ARES_BACKEND, or null when the default applies. */
export function requestedBackend(): BackendRequest | null {
  const name = process.env.ARES_BACKEND?.trim();
  if (!name) return null;
  if (!(BACKEND_REQUESTS as readonly string[]).includes(name)) {
    throw new AresError(`unknown backend "${name}" (from --backend or ARES_BACKEND); choose one of ${BACKEND_REQUESTS.join(', ')}`, { exitCode: 2 });
  }
  return name as BackendRequest;
}

let autoChoice: BackendName | null = null;

/**
 * `auto`: webgpu when a hardware adapter exists, else wasm, said in one line on stderr. A
 * software adapter (SwiftShader) counts as none: it emulates the GPU on the same CPU that wasm
 * uses directly, and is slower. Decided once per process.
 */
export async function resolveAutoBackend(say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<BackendName> {
  if (autoChoice) return autoChoice;
  let why: string;
  try {
    const adapter = await probeWebGpu();
    if (adapter && !adapter.software) {
      say(`ares: backend auto: webgpu on ${adapter.description}`);
      return (autoChoice = 'webgpu');
    }
    why = adapter ? `the only WebGPU adapter is a CPU emulation, ${adapter.description}` : 'no WebGPU adapter';
  } catch (err) {
    if (!(err instanceof AresError)) throw err;
    why = err.message;
  }
  say(`ares: backend auto: wasm (${why})`);
  return (autoChoice = 'wasm');
}

async function tfjsNodeAvailable(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-node' as string);
    return true;
  } catch {
    return false;
  }
}

/**
 * Chooses and initialises the tensor backend: the requested one, else `tensorflow` when
 * @tensorflow/tfjs-node is importable, else `wasm`, else (when wasm cannot start and nothing was
 * requested) `cpu`. `auto` is webgpu on a hardware adapter, else wasm (resolveAutoBackend). Each
 * backend is initialised once per process; calling again with another backend switches to it
 * (tests compare backends this way).
 */
export async function initEngine(opts: { backend?: BackendRequest; threads?: number } = {}): Promise<EngineInfo> {
  const request = opts.backend ?? requestedBackend();
  const wanted = request === 'auto' ? await resolveAutoBackend() : request;
  installFrugalGradients();
  if (current && (!wanted || wanted === current.backend)) {
    // A tf.setBackend elsewhere (tests comparing backends) may have moved tfjs off the engine's backend.
    if (tf.getBackend() !== current.backend && !(await tf.setBackend(current.backend))) {
      throw new AresError(`could not switch to the ${current.backend} backend`);
    }
    return current;
  }
  const backend: BackendName = wanted ?? ((await tfjsNodeAvailable()) ? 'tensorflow' : 'wasm');
  if (backend === 'tensorflow' && !(await tfjsNodeAvailable())) {
    throw new AresError('backend "tensorflow" needs the optional package @tensorflow/tfjs-node (npm install @tensorflow/tfjs-node)', { exitCode: 2 });
  }
  let info = initialised.get(backend);
  if (info) {
    if (!(await tf.setBackend(backend))) throw new AresError(`could not switch to the ${backend} backend`);
  } else {
    const threads = backend === 'wasm' ? opts.threads ?? requestedThreads() : 1;
    // A bad ARES_WASM_SIMD is the user's error to report, not a reason to fall back to cpu below.
    if (backend === 'wasm') chooseKernelBuild();
    try {
      info = await startBackend(backend, threads);
    } catch (err) {
      if (wanted || backend !== 'wasm') throw err;
      process.stderr.write(`ares: warning: wasm backend unavailable (${(err as Error).message}); using the slow cpu backend\n`);
      info = await startBackend('cpu');
    }
    initialised.set(info.backend, info);
  }
  current = info;
  return current;
}

const initialised = new Map<BackendName, EngineInfo>();

async function startBackend(backend: BackendName, threads = 1): Promise<EngineInfo> {
  if (backend === 'wasm') {
    await initWasmBackend(threads);
    await tf.ready();
    installHeapMeter(tf.findBackend('wasm')!);
    const { customKernels, threads: got } = await registerWasmKernels(threads);
    return { backend, threads: got, customKernels };
  }
  if (backend === 'webgpu') {
    const adapter = await startWebGpu();
    return { backend, threads: 1, customKernels: [], adapter: adapter.description };
  }
  if (!(await tf.setBackend(backend))) throw new AresError(`could not initialise the ${backend} backend`);
  await tf.ready();
  if (backend === 'cpu') muteCpuHint();
  return { backend, threads: backend === 'cpu' ? 1 : os.cpus().length, customKernels: [] };
}

/**
 * tfjs's cpu backend prints "install tfjs-node" on its first tensor; the engine already chose the
 * backend deliberately, so that first tensor is made here with console.warn muted.
 */
function muteCpuHint(): void {
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.scalar(0).dispose();
  } finally {
    console.warn = warn;
  }
}

/**
 * Moves variables to another backend (started if need be, and made current) by value. tfjs moves
 * a tensor between backends with a synchronous read, which the webgpu backend cannot do in Node;
 * this reads with await first.
 */
export async function moveVariables(vars: readonly tf.Variable[], to: BackendName): Promise<void> {
  const values = await Promise.all(vars.map(readFloat32));
  await initEngine({ backend: to });
  tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(values[i], v.shape, v.dtype))));
}

export function engineInfo(): EngineInfo {
  if (!current) throw new AresError('engine not initialised: call initEngine() first');
  return current;
}

export { tf };
