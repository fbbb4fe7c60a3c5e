import { Option } from 'commander';
import { BACKEND_REQUESTS } from '../engine/backend-names.js';

/** Commands that compute with tensors, and so take --backend after their name as well as before it. */
export const BACKEND_COMMANDS: readonly string[] = ['train', 'benchmark', 'bench', 'fit', 'eval', 'predict', 'demo'];

/**
 * `--backend`. The choice reaches the engine through ARES_BACKEND (src/engine/backend.ts
 * requestedBackend), so library calls made by a command see it without passing it down.
 */
export function backendOption(): Option {
  return new Option('--backend <name>', 'tensor backend: wasm (default), webgpu (the GPU through WebGPU), '
    + 'auto (webgpu on a hardware GPU, else wasm; prints its choice), tensorflow (tfjs-node, if installed) or cpu; env ARES_BACKEND')
    .choices(BACKEND_REQUESTS);
}
