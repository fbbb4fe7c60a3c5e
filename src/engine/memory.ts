import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';

/**
 * Leak checks for training loops: a step that leaves one tensor behind per call exhausts memory
 * only after thousands of steps, so loops and tests check the live-tensor count instead.
 */
export interface MemorySnapshot {
  /** Live tensors (tf.memory().numTensors). */
  tensors: number;
  /** Bytes those tensors hold. */
  bytes: number;
}

export function memorySnapshot(): MemorySnapshot {
  const m = tf.memory();
  return { tensors: m.numTensors, bytes: m.numBytes };
}

/**
 * Runs `step` once to warm up (first calls may create lasting state, e.g. optimiser buffers),
 * then `steps` more times; returns how many live tensors the later calls added in total.
 */
export function tensorGrowth(step: () => void, steps = 3): number {
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) step();
  return tf.memory().numTensors - before;
}

/** Throws when `step` leaks tensors (see tensorGrowth). */
export function assertNoTensorGrowth(step: () => void, what: string, steps = 3): void {
  const grown = tensorGrowth(step, steps);
  if (grown !== 0) throw new AresError(`${what} leaks tensors: ${grown} more live after ${steps} calls`);
}
