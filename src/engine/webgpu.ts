import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';

/**
 * The WebGPU backend in Node: Dawn (the optional npm package `webgpu`) provides navigator.gpu,
 * then tfjs's webgpu backend runs on it. In a browser navigator.gpu already exists.
 *
 * Reads from this backend must be asynchronous (`await t.data()`): tfjs's synchronous readback
 * (dataSync, arraySync) goes through an OffscreenCanvas, which Node does not have, so it throws
 * "OffscreenCanvas is not defined" for every tensor that lives on the GPU.
 */

/** What the adapter is, as the choice line and the errors name it. */
export interface WebGpuAdapter {
  /** e.g. "nvidia ampere (NVIDIA GeForce RTX 3080)" or "google swiftshader (SwiftShader driver 5.0.0)". */
  description: string;
  /** A CPU emulation of a GPU (SwiftShader, llvmpipe, lavapipe): correct but slower than the wasm backend. */
  software: boolean;
}

/** The properties of GPUAdapterInfo this file reads (Dawn and browsers fill them differently). */
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null>;
}

/** How to get an adapter, for the error when there is none. */
export const NO_ADAPTER_HINT = 'install the GPU\'s Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver; '
  + 'for testing only, Chromium\'s SwiftShader emulates one on the CPU (slower than --backend wasm): '
  + 'VK_ICD_FILENAMES=<its vk_swiftshader_icd.json, on Debian /usr/lib/chromium/vk_swiftshader_icd.json>';

/** Software adapters emulate a GPU on the CPU: `auto` skips them, because wasm is faster on the same CPU. */
export function isSoftwareAdapter(info: AdapterInfoLike): boolean {
  if (info.isFallbackAdapter === true) return true;
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b/i.test(text);
}

export function describeAdapter(info: AdapterInfoLike): string {
  const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return info.description ? `${name} (${info.description})` : name;
}

let gpu: GpuLike | null = null;

/**
 * navigator.gpu, installing Dawn's in Node once per process. The package is optional (a prebuilt
 * native binary), so its absence is the user's to fix, not a bug.
 */
async function navigatorGpu(): Promise<GpuLike> {
  if (gpu) return gpu;
  const existing = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (existing) return (gpu = existing);
  let dawn: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    dawn = await import('webgpu' as string);
  } catch (err) {
    throw new AresError(`backend "webgpu" needs the optional package webgpu (Dawn for Node): npm install webgpu (${(err as Error).message})`, { exitCode: 2, cause: err });
  }
  // tfjs's webgpu backend uses the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) and navigator.gpu.
  Object.assign(globalThis, dawn.globals);
  const created = dawn.create([]);
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) g.navigator = { gpu: created };
  else Object.defineProperty(g.navigator, 'gpu', { value: created, configurable: true });
  return (gpu = created);
}

/** The adapter WebGPU would use, or null when there is none (no driver, or Dawn rejects it). */
export async function probeWebGpu(): Promise<WebGpuAdapter | null> {
  const adapter = await (await navigatorGpu()).requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const info: AdapterInfoLike = { ...pick(adapter.info ?? {}), isFallbackAdapter: adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter };
  return { description: describeAdapter(info), software: isSoftwareAdapter(info) };
}

/** GPUAdapterInfo's fields are getters on its prototype: copy them to a plain object. */
function pick(info: AdapterInfoLike): AdapterInfoLike {
  const { vendor, architecture, device, description } = info;
  return { vendor, architecture, device, description };
}

/** Starts tfjs's webgpu backend; an AresError saying how to get an adapter when there is none. */
export async function startWebGpu(): Promise<WebGpuAdapter> {
  const adapter = await probeWebGpu();
  if (!adapter) throw new AresError(`backend "webgpu": no WebGPU adapter found; ${NO_ADAPTER_HINT}`, { exitCode: 2 });
  await import('@tensorflow/tfjs-backend-webgpu');
  // tfjs logs its own failure and resolves false; the adapter was just found, so this is rare (a lost device).
  if (!(await tf.setBackend('webgpu'))) {
    throw new AresError(`backend "webgpu": could not start on ${adapter.description} (tfjs printed the cause above)`);
  }
  await tf.ready();
  guardSyncReads();
  return adapter;
}

/** The part of tfjs's WebGPUBackend that guardSyncReads wraps. */
interface WebGpuBackendInternals {
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): { values?: unknown; dtype: string } | undefined };
}

/**
 * Without OffscreenCanvas (Node), tfjs's readSync of a GPU-resident tensor dies with "OffscreenCanvas
 * is not defined", which the CLI would print as an unexpected error. A code path that still reads
 * synchronously is a limitation of this slice, not a bug in the user's input: name it instead.
 * Values tfjs keeps on the CPU (small tensors, uploads not yet used) still read synchronously.
 */
function guardSyncReads(): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const be = tf.findBackend('webgpu') as unknown as WebGpuBackendInternals;
  const readSync = be.readSync.bind(be);
  be.readSync = (dataId) => {
    const d = be.tensorMap.get(dataId);
    if (d && (d.values != null || d.dtype === 'string')) return readSync(dataId);
    throw new AresError('this command reads tensors synchronously (dataSync), which the webgpu backend cannot do in Node; '
      + 'it does not run on --backend webgpu yet: use --backend wasm');
  };
}
