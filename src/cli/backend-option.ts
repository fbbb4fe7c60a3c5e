import { Option } from 'commander';
import { BACKEND_REQUESTS } from '../engine/backend-names.js';
import { AresError } from '../errors.js';

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

/** Commands that only score: their forward passes read synchronously, which webgpu cannot do in Node yet. */
const SCORING_COMMANDS: readonly string[] = ['eval', 'fit', 'predict'];

/**
 * The backend `command` runs on, from the one asked for (the flag, else ARES_BACKEND). A scoring
 * command asked for webgpu stops before any work; asked for auto, it takes wasm and says why in
 * one line. Training commands train on webgpu and score on wasm themselves (src/pipeline/train-run.ts).
 */
export function backendForCommand(command: string, flag: string | undefined, say: (line: string) => void): string | undefined {
  const asked = flag ?? process.env.ARES_BACKEND?.trim();
  if (!SCORING_COMMANDS.includes(command) || (asked !== 'webgpu' && asked !== 'auto')) return flag;
  if (asked === 'webgpu') {
    throw new AresError(`ares ${command} does not run on --backend webgpu yet (scoring reads tensors synchronously, which WebGPU cannot do in Node); use --backend wasm`, { exitCode: 2 });
  }
  say(`ares: backend auto: wasm (ares ${command} does not run on webgpu yet)`);
  return 'wasm';
}
