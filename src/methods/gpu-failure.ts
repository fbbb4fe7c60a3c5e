/**
 * Training on the GPU (--backend webgpu) stopped by the GPU itself: out of memory, or the device
 * lost (driver reset, GPU removed). tfjs's webgpu backend surfaces neither as such: a failed
 * allocation gives an invalid buffer (garbage results, or a read that rejects with an empty
 * DOMException), a lost device makes every read reject. src/engine/webgpu.ts records what the
 * device reported; here it becomes an AresError that says what to do.
 */
import { join } from 'node:path';
import { AresError } from '../errors.js';
import { initEngine } from '../engine/backend.js';
import { clearGpuFault, gpuFault, gpuOutOfMemoryError, type GpuFault } from '../engine/webgpu.js';
import type { TrainConfig } from './config.js';
import { measureTrainingStep } from './preflight.js';

/** Where the training was and what it had saved, for the message. */
export interface TrainingPlace {
  cfg: TrainConfig;
  shape: [number, number, number];
  classes: number;
  /** 0-based epoch that was running. */
  epoch: number;
  outDir?: string;
  /** Epochs done in the newest checkpoint written or resumed from, or null when there is none. */
  checkpointEpochs: number | null;
}

/** Thrown inside the loop when the device reported a fault during a step that itself returned (garbage from an invalid buffer). */
class GpuFaultSeen extends Error {}

/**
 * Before training on webgpu: forgets an earlier out-of-memory (this run has its own batch size),
 * and refuses a device lost earlier in this process, which tfjs cannot run on again.
 */
export function checkGpuUsable(): void {
  clearGpuFault();
  const f = gpuFault();
  if (f) throw new AresError(`the GPU device was lost earlier in this process (${f.message}); start a new process, or use --backend wasm`);
}

/** Throws when the GPU reported a fault during the step just finished. */
export function throwOnGpuFault(): void {
  const f = gpuFault();
  if (f) throw new GpuFaultSeen(f.message);
}

/**
 * The error to report for `err`, thrown while training at `place`: an AresError when the GPU
 * reported a fault (whatever `err` itself says: a read of an invalid buffer may even look like a
 * diverged loss), else `err` unchanged.
 */
export async function gpuTrainingFailure(err: unknown, place: TrainingPlace): Promise<unknown> {
  const f = gpuFault();
  if (!f) return err;
  if (f.kind === 'lost') return deviceLostError(f, place);
  if (f.kind === 'out-of-memory') return outOfMemoryError(f, place);
  // Larger than one GPU buffer may be (maxBufferSize / maxStorageBufferBindingSize): the batch's fault too.
  if (/exceeds the max(imum)? (buffer|storage buffer binding) size|maxBufferSize|maxStorageBufferBindingSize/i.test(f.message)) {
    return new AresError(`a tensor of the training step at batch ${place.cfg.batchSize} is larger than this GPU allows in one buffer (${f.message}): use a smaller --batch-size`, { exitCode: 2, cause: err });
  }
  // Any other GPU error is a bug (in tfjs or here), reported as such, with what the GPU said.
  return Object.assign(new Error(`the GPU reported an error during training: ${f.message}`), { cause: err });
}

/**
 * The largest batch that fits is sized by the step's memory per image, measured on the wasm heap
 * (the same tensors, in the same float32 bytes), against the GPU memory tfjs held when the
 * allocation failed. Measuring needs the wasm backend; a failure to measure leaves the number out.
 */
async function outOfMemoryError(f: GpuFault, place: TrainingPlace): Promise<AresError> {
  try {
    await initEngine({ backend: 'wasm' });
    const { label, memory } = await measureTrainingStep(place.cfg, place.shape, place.classes);
    return gpuOutOfMemoryError(label, place.cfg.batchSize, f, memory);
  } catch {
    return new AresError(`the GPU ran out of memory training at batch ${place.cfg.batchSize} (${f.message}): use a smaller --batch-size, or --backend wasm`, { exitCode: 2 });
  }
}

function deviceLostError(f: GpuFault, place: TrainingPlace): AresError {
  const where = `during epoch ${place.epoch + 1} of ${place.cfg.epochs}`;
  let next: string;
  if (!place.outDir) next = 'nothing was saved (no run folder): run the command again';
  else if (place.checkpointEpochs === null) next = 'no epoch had finished, so there is no checkpoint: run the command again';
  else {
    next = `the checkpoint after epoch ${place.checkpointEpochs} is intact (${join(place.outDir, 'checkpoints')}): `
      + 'run the same command with --resume to continue from it, on --backend webgpu once the GPU is back or on --backend wasm';
  }
  return new AresError(`the GPU device was lost ${where} (${f.message}); ${next}`, { exitCode: 1 });
}
