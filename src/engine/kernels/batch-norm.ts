import * as tf from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';
import type { WasmBackendInternals } from '../wasm-init.js';

/**
 * Training-mode batch norm as two wasm kernels with a closed-form gradient. tfjs-layers computes
 * it as moments + batchNorm, whose gradient tfjs builds from ~25 full-size ops (one of them a
 * Tile that alone takes ~200 ms per layer on wasm); these take three passes forward and two back.
 */
export const BN_TRAIN = 'AresBatchNormTrain';
export const BN_TRAIN_GRAD = 'AresBatchNormTrainGrad';

const NBLK = 64; // batch_norm.c

/**
 * Runs f with the scratch both kernels share: two f64 partial-sum tables of NBLK × C (the
 * layout batch_norm.c reads) and C × 3 float32 coefficients. Freed however f ends.
 */
function withScratch<T>(rt: KernelRuntime, C: number, f: (p1: number, p2: number, coef: number) => T): T {
  const table = 8 * NBLK * C;
  const scratch = rt.malloc(2 * table + 4 * 3 * C);
  try { return f(scratch, scratch + table, scratch + 2 * table); } finally { rt.free(scratch); }
}

interface BnAttrs { epsilon: number }

function dims(x: tf.TensorInfo): { N: number; C: number } {
  const C = x.shape[x.shape.length - 1];
  return { N: tf.util.sizeFromShape(x.shape) / C, C };
}

export function batchNormTrainConfig(rt: KernelRuntime): tf.KernelConfig {
  return {
    kernelName: BN_TRAIN,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, gamma, beta } = inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
      const { epsilon } = attrs as unknown as BnAttrs;
      const be = backend as unknown as WasmBackendInternals;
      const { N, C } = dims(x);
      const y = be.makeOutput(x.shape, 'float32');
      const mean = be.makeOutput([C], 'float32');
      const variance = be.makeOutput([C], 'float32');
      withScratch(rt, C, (p1, p2, coef) => {
        const px = rt.ptr(x), pm = rt.ptr(mean), pv = rt.ptr(variance);
        rt.run('bn_stats_pass', px, 0, N, C, p1, p2);
        rt.call1('bn_finish_mean', p1, N, C, pm);
        rt.run('bn_stats_pass', px, pm, N, C, p1, p2);
        rt.call1('bn_finish_mean', p2, N, C, pv);
        rt.call1('bn_forward_coef', rt.ptr(gamma), rt.ptr(beta), pm, pv, epsilon, C, coef);
        rt.run('bn_apply', px, coef, N, C, rt.ptr(y));
      });
      return [y, mean, variance];
    },
  };
}

export function batchNormTrainGradConfig(rt: KernelRuntime): tf.KernelConfig {
  return {
    kernelName: BN_TRAIN_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x, gamma, mean, variance } = inputs as Record<string, tf.TensorInfo>;
      const { epsilon } = attrs as unknown as BnAttrs;
      const be = backend as unknown as WasmBackendInternals;
      const { N, C } = dims(x);
      const dx = be.makeOutput(x.shape, 'float32');
      const dgamma = be.makeOutput([C], 'float32');
      const dbeta = be.makeOutput([C], 'float32');
      withScratch(rt, C, (p1, p2, coef) => {
        const pdy = rt.ptr(dy), px = rt.ptr(x), pm = rt.ptr(mean);
        rt.run('bn_grad_pass', pdy, px, pm, N, C, p1, p2);
        rt.call1('bn_grad_finish', p1, p2, rt.ptr(gamma), pm, rt.ptr(variance), epsilon, N, C,
          rt.ptr(dgamma), rt.ptr(dbeta), coef);
        rt.run('bn_grad_apply', pdy, px, coef, N, C, rt.ptr(dx));
      });
      return [dx, dgamma, dbeta];
    },
  };
}

/** Gradient of BN_TRAIN: its mean and variance outputs are statistics only (no gradient flows back). */
export const batchNormTrainGradient: tf.GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, mean, variance] = saved;
    const dy = (Array.isArray(dys) ? dys[0] : dys) ?? tf.zerosLike(x);
    const [dx, dgamma, dbeta] = tf.engine().runKernel(BN_TRAIN_GRAD,
      { dy, x, gamma, mean, variance } as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};

/**
 * Batch norm over the last axis with the batch's own statistics: returns [y, mean, variance]
 * (biased variance, as tf.moments). Wasm backend only (see fastBatchNormAvailable).
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  return tf.engine().runKernel(BN_TRAIN, { x, gamma, beta } as unknown as tf.NamedTensorMap,
    { epsilon } as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/** Whether batchNormTrain can run on x now: wasm backend, kernels registered, float32, C % 4 == 0. */
export function fastBatchNormAvailable(x: tf.Tensor): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(BN_TRAIN, 'wasm') != null && x.dtype === 'float32'
    && x.rank >= 2 && x.shape[x.rank - 1] % 4 === 0;
}
