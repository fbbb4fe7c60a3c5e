import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig, conv2dConfig, fusedConv2dConfig } from './conv.js';
import { fusedBatchNormConfig } from './batch-norm-infer.js';
import { batchNormTrainConfig, batchNormTrainGradConfig, batchNormTrainGradient } from './batch-norm.js';
import { patchAddLayer, patchBatchNormalization, patchFusedConv2d, patchModelForward } from '../layers-patch.js';
import { maxPoolGradConfig } from './pool.js';
import { batchMatMulConfig } from './matmul.js';
import { castConfig, identityConfig, reluConfig, reluGradConfig, reluGradient } from './eltwise.js';
import { KernelRuntime } from './runtime.js';
import { tileConfig } from './tile.js';

export { KernelRuntime } from './runtime.js';

let runtime: KernelRuntime | null = null;
const registered: string[] = [];

/** Replaces (or adds) a wasm kernel. */
function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
  registered.push(config.kernelName);
}

/** tfjs's own wasm kernel function for a kernel name. */
function own(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`internal: tfjs's wasm backend has no ${name} kernel`);
  return k.kernelFunc;
}

/**
 * Registers this project's kernels on the (already initialised) wasm backend; returns their names
 * and the threads they run on (1 unless the backend's memory is shared). Idempotent.
 */
export async function registerWasmKernels(threads: number): Promise<{ customKernels: string[]; threads: number }> {
  if (!runtime) {
    runtime = await KernelRuntime.create(tf.findBackend('wasm')!, threads);
    registerAll(runtime);
  }
  return { customKernels: [...registered], threads: runtime.threads };
}

function registerAll(rt: KernelRuntime): void {
  replaceKernel(conv2dBackpropFilterConfig(rt));
  replaceKernel(conv2dBackpropInputConfig(rt, own(tf.Conv2DBackpropInput)));
  replaceKernel(conv2dConfig(rt, own(tf.Conv2D)));
  replaceKernel(fusedConv2dConfig(rt, own(tf.FusedConv2D)));
  replaceKernel(maxPoolGradConfig(rt, tf.getKernel(tf.MaxPoolGrad, 'wasm')?.kernelFunc));
  replaceKernel(batchMatMulConfig(rt, own(tf.BatchMatMul)));
  replaceKernel(batchNormTrainConfig(rt));
  replaceKernel(batchNormTrainGradConfig(rt));
  replaceKernel(fusedBatchNormConfig(rt, own(tf.FusedBatchNorm)));
  tf.registerGradient(batchNormTrainGradient);
  patchBatchNormalization();
  patchAddLayer();
  patchFusedConv2d();
  patchModelForward();
  replaceKernel(reluConfig(rt, own(tf.Relu)));
  replaceKernel(reluGradConfig(rt));
  tf.registerGradient(reluGradient);
  replaceKernel(identityConfig(own(tf.Identity)));
  replaceKernel(castConfig(own(tf.Cast)));
  replaceKernel(tileConfig(own(tf.Tile)));
}

/** The kernel runtime, once registerWasmKernels ran (tests and benchmarks inspect it). */
export function kernelRuntime(): KernelRuntime | null { return runtime; }
