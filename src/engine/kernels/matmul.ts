import * as tf from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';
import type { WasmBackendInternals } from '../wasm-init.js';

/**
 * BatchMatMul with a transposed operand (the backward pass of every dense layer) as a wasm SIMD
 * kernel; untransposed products stay with tfjs's kernel, which hands them to XNNPACK.
 */
export function batchMatMulConfig(rt: KernelRuntime, own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.BatchMatMul,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const ra = a.shape.length, rb = b.shape.length;
      const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
      const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
      const simpleBatch = batchA === batchB || batchA === 1 || batchB === 1;
      if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || !simpleBatch) {
        return own(args);
      }
      const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
      const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
      const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
      const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
      if (K !== Kb) {
        throw new Error(`Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
      }
      const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      const batch = Math.max(batchA, batchB);
      const out = (args.backend as unknown as WasmBackendInternals).makeOutput([...outer, M, N], 'float32');
      const g = rt.ints([batch, M, K, N, transposeA ? 1 : 0, transposeB ? 1 : 0,
        batchA === 1 ? 0 : M * K, batchB === 1 ? 0 : K * N]);
      const scratch = rt.malloc(4 * rt.threads * rt.call1('matmul_t_scratch', K));
      try {
        rt.run('matmul_t', g, rt.ptr(a), rt.ptr(b), rt.ptr(out), scratch);
      } finally { rt.free(scratch); rt.free(g); }
      return out;
    },
  };
}
