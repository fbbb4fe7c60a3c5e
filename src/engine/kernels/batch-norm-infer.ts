import * as tf from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';
import type { WasmBackendInternals } from '../wasm-init.js';

/**
 * Inference-mode batch norm (FusedBatchNorm: running mean and variance) as batch_norm.c's SIMD
 * affine pass, y = x * s[c] + t[c] with s = gamma / sqrt(var + eps), t = beta - mean * s, split
 * across the kernel threads. tfjs's own wasm kernel does the same arithmetic in a scalar loop that
 * took half of MobileNetV2's inference step (52 batch norms; `ares bench --profile`). Cases this
 * does not cover (no scale or offset, statistics that are not one value per channel, channels not
 * in fours) keep tfjs's kernel.
 */
export function fusedBatchNormConfig(rt: KernelRuntime, own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
      const C = x!.shape[x!.shape.length - 1];
      const perChannel = (t: tf.TensorInfo | undefined) => t != null && t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) === C;
      if (x!.dtype !== 'float32' || x!.shape.length < 2 || C % 4 !== 0 || ![mean, variance, offset, scale].every(perChannel)) {
        return own(args);
      }
      const y = (args.backend as WasmBackendInternals).makeOutput(x!.shape, 'float32');
      const N = tf.util.sizeFromShape(x!.shape) / C;
      const coef = rt.malloc(4 * 2 * C);
      try {
        rt.call1('bn_forward_coef', rt.ptr(scale!), rt.ptr(offset!), rt.ptr(mean!), rt.ptr(variance!), varianceEpsilon, C, coef);
        if (N > 0) rt.run('bn_apply', rt.ptr(x!), coef, N, C, rt.ptr(y));
      } finally { rt.free(coef); }
      return y;
    },
  };
}
