import * as tf from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';
import type { WasmBackendInternals } from '../wasm-init.js';

/**
 * Element-wise pieces of the training step on wasm: a threaded SIMD Relu, its gradient in one
 * pass (tfjs composes it from Step, Cast and Multiply), and Identity / same-dtype Cast without a
 * copy (tfjs's wasm backend copies every tensor the gradient tape saves).
 */
export const RELU_GRAD = 'AresReluGrad';

const size = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape);

export function reluConfig(rt: KernelRuntime, own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.Relu,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype !== 'float32') return own(args);
      const y = (args.backend as unknown as WasmBackendInternals).makeOutput(x.shape, 'float32');
      rt.run('relu_fwd', rt.ptr(x), size(x), rt.ptr(y));
      return y;
    },
  };
}

export function reluGradConfig(rt: KernelRuntime): tf.KernelConfig {
  return {
    kernelName: RELU_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const dx = (backend as unknown as WasmBackendInternals).makeOutput(x.shape, 'float32');
      rt.run('relu_grad', rt.ptr(dy), rt.ptr(x), size(x), rt.ptr(dx));
      return dx;
    },
  };
}

/**
 * Relu's gradient from its output rather than its input (y > 0 exactly where x > 0): the
 * following layer keeps y alive anyway, so the input (a batch-norm output in pre-activation
 * blocks) can be freed during the forward pass instead of being held for the backward one. The
 * one-pass kernel where it applies, else tfjs's own formula (mul(dy, cast(step(.), 'float32'))).
 */
export const reluGradient: tf.GradConfig = {
  kernelName: tf.Relu,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved;
    const d = dy as tf.Tensor;
    const fast = tf.getBackend() === 'wasm' && tf.getKernel(RELU_GRAD, 'wasm') != null
      && y.dtype === 'float32' && d.dtype === 'float32' && tf.util.arraysEqual(y.shape, d.shape);
    if (fast) return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: d, x: y } as unknown as tf.NamedTensorMap) as tf.Tensor };
    return { x: () => tf.mul(d, tf.cast(tf.step(y), 'float32')) };
  },
};

/**
 * Tensors are immutable, so an op that would copy its input unchanged can share its data instead
 * (as the cpu backend does); `own` handles the inputs `canAlias` rejects.
 */
function aliasingConfig(kernelName: string, own: tf.KernelFunc, canAlias: (x: tf.TensorInfo, attrs: tf.NamedAttrMap) => boolean): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype === 'string' || !canAlias(x, args.attrs ?? {})) return own(args);
      (args.backend as unknown as { incRef(d: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}

export const identityConfig = (own: tf.KernelFunc) => aliasingConfig(tf.Identity, own, () => true);

/** A cast to the dtype the tensor already has. */
export const castConfig = (own: tf.KernelFunc) => aliasingConfig(tf.Cast, own, (x, attrs) => x.dtype === attrs.dtype);
