import type * as tf from '@tensorflow/tfjs';

/**
 * A copy of a tensor's values, read with await: the one read that works on every backend (the
 * webgpu backend has no synchronous read in Node). A copy, because the cpu backend hands out
 * the tensor's own array.
 */
export async function readFloat32(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data() as Float32Array);
}
