import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { gpuAllocatedBytes, gpuFault, largestGpuBatch } from '../../src/engine/webgpu.js';
import { loadCheckpoint } from '../../src/methods/checkpoint.js';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/methods/config.js';
import { train } from '../../src/methods/train.js';
import type { ImageSet, PreparedDataset } from '../../src/data/types.js';
import { AresError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

/**
 * Training on webgpu stopped by the GPU: out of memory, and a lost device. On Chromium's
 * SwiftShader (see webgpu.test.ts) no real out-of-memory can be provoked (it allocates host memory,
 * and a buffer over the device's limits is a validation error, not an out-of-memory one), so the
 * test makes Dawn's GPUDevice.createBuffer fail past a byte budget the way WebGPU reports it: a
 * RangeError for a buffer mapped at creation (tfjs's uploads), a GPUOutOfMemoryError on the
 * device's uncapturederror event for the others. The lost device is real: GPUDevice.destroy().
 */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const haveIcd = existsSync(SWIFTSHADER_ICD);
if (haveIcd) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-'));

interface BufferDescriptor { size: number; usage: number; mappedAtCreation?: boolean }
interface DawnGlobals {
  GPUDevice: { prototype: { createBuffer(d: BufferDescriptor): unknown; dispatchEvent(e: Event): boolean } };
  GPUOutOfMemoryError: new (message: string) => object;
  GPUUncapturedErrorEvent: new (type: string, init: { error: object }) => Event;
}

/** Bytes past which the fake refuses allocations, and how (Infinity: never). */
const fake = { budget: Infinity, way: 'mapped' as 'mapped' | 'event' };

const dirs: string[] = [];
const tmpDir = () => { const d = mkdtempSync(path.join(os.tmpdir(), 'ares-webgpu-errors-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const base: TrainConfig = { ...DEFAULT_CONFIG, id: 'generated', method: 'ce', epochs: 3, pretrainEpochs: 0, batchSize: 4, augment: 'none', lr: 0.05, seed: 3 };

describe('largestGpuBatch', () => {
  it('fits the step line under the GPU memory tfjs got, with the pre-flight margin, below the batch that failed', () => {
    const MiB = 2 ** 20;
    // (50 MiB / 1.25 − 10 MiB) / 1 MiB = 30 images.
    expect(largestGpuBatch(50 * MiB, { fixedBytes: 10 * MiB, perImageBytes: MiB }, 64)).toBe(30);
    expect(largestGpuBatch(50 * MiB, { fixedBytes: 10 * MiB, perImageBytes: MiB }, 16)).toBe(15);
    expect(largestGpuBatch(8 * MiB, { fixedBytes: 10 * MiB, perImageBytes: MiB }, 16)).toBe(0);
  });
});

describe.skipIf(!haveIcd)('webgpu training stopped by the GPU (SwiftShader)', () => {
  beforeAll(async () => {
    // The fake goes on Dawn's class before the backend makes its device, so the engine's own
    // createBuffer watch (src/engine/webgpu.ts) sits outside it, as it would around Dawn's.
    const dawn = (await import('webgpu' as string)).globals as DawnGlobals;
    const createBuffer = dawn.GPUDevice.prototype.createBuffer;
    dawn.GPUDevice.prototype.createBuffer = function (this: DawnGlobals['GPUDevice']['prototype'], desc: BufferDescriptor) {
      if (gpuAllocatedBytes() + desc.size > fake.budget) {
        // 'mapped': only tfjs's uploads (mapped at creation) fail, by throwing; 'event': any buffer, by the event.
        if (fake.way === 'mapped' && desc.mappedAtCreation) throw new RangeError('fake: allocation over the test budget failed');
        if (fake.way === 'mapped') return createBuffer.call(this, desc);
        const error = new dawn.GPUOutOfMemoryError('fake: allocation over the test budget failed');
        queueMicrotask(() => this.dispatchEvent(new dawn.GPUUncapturedErrorEvent('uncapturederror', { error })));
      }
      return createBuffer.call(this, desc);
    };
    await initEngine({ backend: 'wasm', threads: 1 });
    await initEngine({ backend: 'webgpu' });
  });

  it.each(['mapped', 'event'] as const)('out of memory (%s) -> an AresError naming a smaller batch that fits', async (way) => {
    await initEngine({ backend: 'webgpu' });
    // Warm up at batch 4: the pool tfjs keeps on the GPU for it is the budget; batch 16 needs more.
    const warm = await train({ ...base, epochs: 1 }, tinyDataset(16));
    warm.model.layersModel.dispose();
    fake.budget = gpuAllocatedBytes();
    fake.way = way;
    try {
      await initEngine({ backend: 'webgpu' });
      const err = await train({ ...base, batchSize: 16, epochs: 1 }, tinyDataset(16)).catch((e: unknown) => e);
      expect(gpuFault()?.kind).toBe('out-of-memory');
      expect(err).toBeInstanceOf(AresError);
      const message = (err as AresError).message;
      console.log(`webgpu-errors (${way}): ${message}`);
      expect(message).toMatch(/^the GPU ran out of memory training cnn \(8×8×1 input\) at batch 16 \(.*fake: allocation over the test budget failed.*; tfjs had [\d.]+ [KM]iB of GPU memory\); the largest batch that fits is about (\d+): --batch-size \1$/);
      const largest = Number(/about (\d+)/.exec(message)![1]);
      expect(largest).toBeGreaterThanOrEqual(1);
      expect(largest).toBeLessThan(16);
      expect((err as AresError).exitCode).toBe(2);
    } finally {
      fake.budget = Infinity;
    }
  });

  // Last: the device it destroys is gone for the rest of this process.
  it('a lost device mid-training -> an AresError naming the intact checkpoint; --resume continues on wasm', async () => {
    await initEngine({ backend: 'webgpu' });
    const data = tinyDataset(16);
    const outDir = tmpDir();
    let checkpointBytes: Buffer | null = null;
    const err = await train(base, data, {
      outDir,
      onEpoch: (e) => {
        if (e.epoch !== 0) return;
        checkpointBytes = readFileSync(path.join(outDir, 'checkpoints', 'epoch-0001.ckpt'));
        (tf.findBackend('webgpu') as unknown as { device: { destroy(): void } }).device.destroy();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AresError);
    expect((err as AresError).message).toMatch(/^the GPU device was lost during epoch 2 of 3 \(destroyed.*\); the checkpoint after epoch 1 is intact \(.*checkpoints\): run the same command with --resume/);
    // The checkpoint is the one the first epoch wrote, byte for byte, and nothing later was written.
    expect(readFileSync(path.join(outDir, 'checkpoints', 'epoch-0001.ckpt')).equals(checkpointBytes!)).toBe(true);
    expect(loadCheckpoint(outDir)!.epochsDone).toBe(1);

    // tfjs cannot run on the destroyed device again: a new training here says so before any work.
    const again = await train(base, data).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(AresError);
    expect((again as AresError).message).toMatch(/lost earlier in this process.*--backend wasm/);

    await initEngine({ backend: 'wasm' });
    const resumed = await train(base, data, { outDir, resume: true });
    resumed.model.layersModel.dispose();
    expect(resumed.finished).toBe(true);
    expect(resumed.history).toHaveLength(3);
    expect(resumed.history[0]).toEqual(loadCheckpoint(outDir)!.history[0]);
    expect(loadCheckpoint(outDir)!.epochsDone).toBe(3);
  });
});

/** 8×8 grey images of 3 classes (as webgpu.test.ts makes them): a brighter row band per class plus noise. */
function tinyDataset(trainCount: number): PreparedDataset {
  const noise = new Rng(23);
  const set = (name: string, count: number): ImageSet => {
    const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
    const images = Float32Array.from({ length: count * 64 }, (_, j) => {
      const [img, row] = [Math.floor(j / 64), Math.floor((j % 64) / 8)];
      return Math.floor(row / 3) === labels[img] ? 0.8 + 0.2 * noise.uniform() : 0.3 * noise.uniform();
    });
    return { name, shape: [8, 8, 1], count, images, labels, classNames: ['a', 'b', 'c'] };
  };
  return {
    train: set('tiny:train', trainCount), val: set('tiny:val', 6), test: set('tiny:test', 6), ood: [], valOod: [],
    normalization: { mean: [0.4], std: [0.3] }, classNames: ['a', 'b', 'c'], shape: [8, 8, 1],
  };
}
