import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { initEngine } from '../../src/engine/backend.js';
import { checkBatchFits, heapMeter, HEAP_OVERHEAD, measureStepMemory, preflightBatches, stepBytes, wasmHeapLimit } from '../../src/engine/heap.js';
import { ceBenchStep } from '../../src/bench/ce-step.js';
import { AresError } from '../../src/errors.js';
import { resolveConfig, trainRun } from '../../src/pipeline/train-run.js';

// The wasm heap meter, the step-memory estimate it feeds, and the pre-flight check that turns a
// batch too large for wasm memory into one clear error before any training step.
beforeAll(async () => { await initEngine({ backend: 'wasm' }); });

describe('wasm memory pre-flight', () => {
  it('names the model, batch, memory needed and the largest batch that fits', () => {
    const m = { fixedBytes: 100 * 2 ** 20, perImageBytes: 10 * 2 ** 20 };
    expect(() => checkBatchFits('wrn40-2 / ce', 64, m, 2 ** 30)).not.toThrow();
    let err: unknown;
    try { checkBatchFits('wrn40-2 / ce', 128, m, 2 ** 30); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(AresError);
    const largest = Math.floor((2 ** 30 / HEAP_OVERHEAD - 100 * 2 ** 20) / (10 * 2 ** 20));
    expect((err as Error).message).toBe(`wrn40-2 / ce at batch 128 needs about ${(HEAP_OVERHEAD * 1380 / 1024).toFixed(2)} GiB of wasm memory, `
      + `more than the 1.00 GiB the wasm backend can address; the largest batch that fits is ${largest}`);
    expect(() => checkBatchFits('x', 1, { fixedBytes: 2 ** 31, perImageBytes: 1 }, 2 ** 30)).toThrow(/not even a batch of 1 fits/);
  });

  it('reads ARES_WASM_HEAP_LIMIT (at most 4 GiB) and rejects nonsense', () => {
    const saved = process.env.ARES_WASM_HEAP_LIMIT;
    try {
      delete process.env.ARES_WASM_HEAP_LIMIT;
      expect(wasmHeapLimit()).toBe(2 ** 32);
      process.env.ARES_WASM_HEAP_LIMIT = '512M';
      expect(wasmHeapLimit()).toBe(512 * 2 ** 20);
      process.env.ARES_WASM_HEAP_LIMIT = '64GiB';
      expect(wasmHeapLimit()).toBe(2 ** 32);
      process.env.ARES_WASM_HEAP_LIMIT = 'lots';
      expect(() => wasmHeapLimit()).toThrow(/ARES_WASM_HEAP_LIMIT/);
    } finally {
      if (saved === undefined) delete process.env.ARES_WASM_HEAP_LIMIT; else process.env.ARES_WASM_HEAP_LIMIT = saved;
    }
  });

  it('predicts the peak of a larger batch from a quarter and a half of it (reference CNN, within 15%)', async () => {
    const make = (batch: number) => ceBenchStep('cnn')({ batch, seed: 0 });
    expect(preflightBatches(96)).toEqual([24, 48]);
    expect(preflightBatches(1024)).toEqual([32, 64]);
    const m = await measureStepMemory(make, preflightBatches(96));
    expect(m.perImageBytes).toBeGreaterThan(0);
    const meter = heapMeter()!;
    const s = make(96);
    try {
      s.step();
      meter.resetPeak();
      s.step();
      const actual = meter.peak;
      const predicted = stepBytes(m, 96);
      expect(Math.abs(predicted - actual) / actual).toBeLessThan(0.15);
      expect(meter.heapBytes()).toBeGreaterThanOrEqual(meter.peak);
    } finally { s.dispose(); }
  });

  it('ares bench stops before the first step with the error and exit code 2 when the batch cannot fit', () => {
    const r = spawnSync(process.execPath, ['bin/ares.js', 'bench', '--model', 'cnn', '--batch', '256', '--steps', '1', '--warmup', '0'],
      { encoding: 'utf8', env: { ...process.env, ARES_WASM_HEAP_LIMIT: '48M' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ares: error: cnn \/ ce at batch 256 needs about [\d.]+ GiB of wasm memory, more than the 0\.05 GiB the wasm backend can address; the largest batch that fits is \d+\n$/);
    const largest = Number(/fits is (\d+)/.exec(r.stderr)![1]);
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThan(256);
    // That batch does run under the same limit, and reports its peak engine memory.
    const ok = spawnSync(process.execPath, ['bin/ares.js', 'bench', '--json', '--model', 'cnn', '--batch', String(largest), '--steps', '1', '--warmup', '1'],
      { encoding: 'utf8', env: { ...process.env, ARES_WASM_HEAP_LIMIT: '48M' } });
    expect(ok.status, ok.stderr).toBe(0);
    const j = JSON.parse(ok.stdout);
    expect(j.tensor_growth).toBe(0);
    expect(j.peak_bytes).toBeGreaterThan(0);
    expect(j.peak_bytes).toBeLessThan(48 * 2 ** 20);
    expect(j.heap_bytes).toBeGreaterThanOrEqual(j.peak_bytes);
  });
});

describe('training memory pre-flight', () => {
  it('stops ares train before its first step when the batch cannot fit', async () => {
    const saved = process.env.ARES_WASM_HEAP_LIMIT;
    process.env.ARES_WASM_HEAP_LIMIT = '24M';
    let steps = 0;
    try {
      const cfg = resolveConfig({ id: 'mnist', idClasses: [0, 1, 2], ood: ['gaussian'], model: 'cnn', method: 'ce',
        limit: 600, epochs: 1, pretrainEpochs: 0, batchSize: 128, seed: 1 });
      await expect(trainRun(cfg, { onStep: () => { steps++; } }))
        .rejects.toThrow(/^cnn \(28×28×1 input\) at batch 128 needs about [\d.]+ GiB of wasm memory, more than the 0\.02 GiB the wasm backend can address; the largest batch that fits is \d+$/);
      expect(steps).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.ARES_WASM_HEAP_LIMIT; else process.env.ARES_WASM_HEAP_LIMIT = saved;
    }
  });
});
