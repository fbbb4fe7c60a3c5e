import * as tf from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';
import type { WasmBackendInternals } from '../wasm-init.js';

/** MaxPoolGrad as a wasm SIMD kernel (tfjs's wasm one is ~20x slower), NHWC float32, no dilation. */
export function maxPoolGradConfig(rt: KernelRuntime, fallback: tf.KernelFunc | undefined): tf.KernelConfig {
  return {
    kernelName: tf.MaxPoolGrad,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as {
        filterSize: number | [number, number]; strides: number | [number, number];
        pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      const c = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number],
        filterSize, strides, 1, pad, dimRoundingMode);
      if (input.dtype !== 'float32' || dy.dtype !== 'float32' || c.dilationHeight !== 1 || c.dilationWidth !== 1) {
        if (!fallback) throw new Error('MaxPoolGrad on wasm: only float32 without dilation is implemented');
        return fallback(args);
      }
      const out = (args.backend as unknown as WasmBackendInternals).makeOutput(input.shape, 'float32');
      const g = rt.ints([c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth,
        c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left]);
      try {
        rt.run('maxpool_grad', g, rt.ptr(input), rt.ptr(dy), rt.ptr(out));
      } finally { rt.free(g); }
      return out;
    },
  };
}
