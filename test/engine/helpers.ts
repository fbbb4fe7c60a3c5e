import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/rng.js';

/** max |a - b| / max |b|: the error measure the kernel tests bound (1e-4). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 1e-30;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** Runs f with `backend` active and returns its tensors' values (so nothing outlives the switch). */
export async function valuesOn(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const before = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => Float32Array.from(t.dataSync() as Float32Array));
    });
  } finally {
    await tf.setBackend(before);
  }
}

/** Normal random values from a seed (tensors are made inside each backend from these). */
export function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/**
 * The tfjs cpu backend prints a hint to install tfjs-node on its first tensor. Makes that first
 * tensor with console.warn muted. (tfjs's IS_TEST flag would mute it too, but it also turns on
 * leak checks that reject customGrad ops saving intermediates, tfjs's own softmaxCrossEntropy included.)
 */
export async function quietCpu(): Promise<void> {
  const warn = console.warn;
  console.warn = () => {};
  try {
    (await valuesOn('cpu', () => tf.scalar(0)));
  } finally {
    console.warn = warn;
  }
}
