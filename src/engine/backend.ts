import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { AresError } from '../errors.js';

export type BackendName = 'wasm' | 'tensorflow' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['wasm', 'tensorflow', 'cpu'];

export interface EngineInfo {
  backend: BackendName;
  /** Threads the backend computes with. */
  threads: number;
  /** Names of kernels this project registered on top of the backend's own. */
  customKernels: string[];
}

let current: EngineInfo | null = null;

/** The backend requested by --backend / ARES_BACKEND, or null when the default applies. */
export function requestedBackend(): BackendName | null {
  const name = process.env.ARES_BACKEND?.trim();
  if (!name) return null;
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new AresError(`unknown backend "${name}" (from --backend or ARES_BACKEND); choose one of ${BACKENDS.join(', ')}`, { exitCode: 2 });
  }
  return name as BackendName;
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
 * Chooses and initialises the tensor backend once per process: the requested one, else
 * `tensorflow` when @tensorflow/tfjs-node is importable, else `wasm`. Idempotent.
 */
export async function initEngine(opts: { backend?: BackendName } = {}): Promise<EngineInfo> {
  const wanted = opts.backend ?? requestedBackend();
  if (current && (!wanted || wanted === current.backend)) return current;
  let backend: BackendName = wanted ?? ((await tfjsNodeAvailable()) ? 'tensorflow' : 'wasm');
  if (backend === 'tensorflow' && !(await tfjsNodeAvailable())) {
    throw new AresError('backend "tensorflow" needs the optional package @tensorflow/tfjs-node (npm install @tensorflow/tfjs-node)', { exitCode: 2 });
  }
  const ok = await tf.setBackend(backend);
  if (!ok) throw new AresError(`could not initialise the ${backend} backend`);
  await tf.ready();
  current = { backend, threads: 1, customKernels: [] };
  return current;
}

export function engineInfo(): EngineInfo {
  if (!current) throw new AresError('engine not initialised: call initEngine() first');
  return current;
}

export { tf };
