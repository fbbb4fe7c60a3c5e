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
  watchGpuDevice();
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

/**
 * What went wrong on the GPU, as WebGPU reports it: an allocation it could not make (out of memory),
 * the device lost (driver reset, GPU removed, device destroyed), or another uncaptured error. tfjs's
 * webgpu backend listens to none of these: a failed allocation leaves it an invalid buffer whose
 * results are garbage or whose read rejects with an empty DOMException, and a lost device makes
 * every later read reject the same way. The first fault is kept, so the error can name the cause.
 */
export interface GpuFault {
  kind: 'out-of-memory' | 'lost' | 'error';
  message: string;
  /** Bytes tfjs had allocated on the GPU when it happened (buffers in its pool included). */
  allocatedBytes: number;
}

/** The parts of GPUDevice that watchGpuDevice uses. */
interface GpuDeviceLike {
  lost: Promise<{ reason?: string; message?: string }>;
  addEventListener(type: 'uncapturederror', listener: (e: { error?: { message?: string } }) => void): void;
  createBuffer(desc: { size: number; usage: number; mappedAtCreation?: boolean }): unknown;
}

/** The part of tfjs's WebGPUBackend read here. */
interface WebGpuBackendDevice {
  device: GpuDeviceLike;
  bufferManager: { numBytesAllocated: number };
}

let fault: GpuFault | null = null;
let watched: GpuDeviceLike | null = null;

/** The fault seen on the webgpu backend's device since the last clearGpuFault, or null. */
export function gpuFault(): GpuFault | null {
  return fault;
}

/**
 * Forgets an out-of-memory or other error (a new training starts clean on a device that is still
 * alive); a lost device stays recorded, since tfjs's backend cannot run on it again in this process.
 */
export function clearGpuFault(): void {
  if (fault?.kind !== 'lost') fault = null;
}

function webgpuBackend(): WebGpuBackendDevice | null {
  try {
    return tf.findBackend('webgpu') as unknown as WebGpuBackendDevice | null;
  } catch {
    return null;
  }
}

/** Bytes tfjs's webgpu backend has allocated on the GPU (its buffer pool included); 0 without one. */
export function gpuAllocatedBytes(): number {
  return webgpuBackend()?.bufferManager?.numBytesAllocated ?? 0;
}

function recordFault(kind: GpuFault['kind'], message: string): void {
  fault ??= { kind, message: message.trim().split('\n')[0], allocatedBytes: gpuAllocatedBytes() };
}

/**
 * Listens on the webgpu backend's device: uncaptured errors (an out-of-memory error is a
 * GPUOutOfMemoryError), device loss, and createBuffer throwing a RangeError (what WebGPU does when
 * a buffer mapped at creation, as tfjs's uploads are, cannot be allocated).
 */
function watchGpuDevice(): void {
  const device = webgpuBackend()?.device;
  if (!device || device === watched) return;
  watched = device;
  fault = null;
  const OutOfMemory = (globalThis as { GPUOutOfMemoryError?: new (...a: never[]) => object }).GPUOutOfMemoryError;
  device.addEventListener('uncapturederror', (e) => {
    const isOom = OutOfMemory !== undefined && e.error instanceof OutOfMemory;
    recordFault(isOom ? 'out-of-memory' : 'error', e.error?.message ?? 'unknown GPU error');
  });
  void device.lost.then((info) => recordFault('lost', `${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''}`));
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (desc) => {
    try {
      return createBuffer(desc);
    } catch (err) {
      if (err instanceof RangeError) recordFault('out-of-memory', `a buffer of ${mib(desc.size)} could not be allocated (${err.message})`);
      throw err;
    }
  };
}

const mib = (bytes: number) => (bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

/** Step memory as src/engine/heap.ts measures it: fixed bytes plus bytes per image. */
export interface StepMemoryLike {
  fixedBytes: number;
  perImageBytes: number;
}

/**
 * The largest batch whose step fits in `capacityBytes` of GPU memory, below `batch` (which did not
 * fit), with the same 1.25 margin the wasm pre-flight keeps; 0 when not even one image fits. An
 * upper estimate: tfjs keeps freed GPU buffers in a pool by exact size, which the margin does not
 * cover (after one epoch at batch 4 of the CNN on 24×24 images the pool held 27.9 MiB on
 * SwiftShader, several times the step's live tensors), so the message says "about".
 */
export function largestGpuBatch(capacityBytes: number, m: StepMemoryLike, batch: number, overhead = 1.25): number {
  if (!(m.perImageBytes > 0)) return Math.max(0, batch - 1);
  return Math.max(0, Math.min(batch - 1, Math.floor((capacityBytes / overhead - m.fixedBytes) / m.perImageBytes)));
}

/** The out-of-memory error of a training step: the GPU memory tfjs got, and the largest batch that fits. */
export function gpuOutOfMemoryError(what: string, batch: number, f: GpuFault, m: StepMemoryLike): AresError {
  const largest = largestGpuBatch(f.allocatedBytes, m, batch);
  return new AresError(`the GPU ran out of memory training ${what} at batch ${batch} (${f.message}; `
    + `tfjs had ${mib(f.allocatedBytes)} of GPU memory); `
    + (largest >= 1 ? `the largest batch that fits is about ${largest}: --batch-size ${largest}` : 'not even a batch of 1 fits: use --backend wasm'), { exitCode: 2 });
}
