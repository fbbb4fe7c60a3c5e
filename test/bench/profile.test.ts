import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { initEngine } from '../../src/engine/backend.js';
import { aggregateProfile, opLabel, profileBench, type KernelRecord } from '../../src/bench/index.js';

beforeAll(async () => { await initEngine({ backend: 'wasm' }); });

const rec = (name: string, inputShapes: number[][], out: number[], ms = 1): KernelRecord => ({ name, inputShapes, outputShapes: [out], ms });

describe('opLabel', () => {
  it('names convolutions by filter size, stride and the Winograd path, from their shapes', () => {
    expect(opLabel(rec('FusedConv2D', [[2, 56, 56, 24], [1, 1, 24, 144]], [2, 56, 56, 144]))).toBe('FusedConv2D 1x1 s1');
    expect(opLabel(rec('Conv2D', [[2, 32, 32, 32], [3, 3, 32, 64]], [2, 16, 16, 64]))).toBe('Conv2D 3x3 s2');
    expect(opLabel(rec('Conv2D', [[2, 32, 32, 32], [3, 3, 32, 64]], [2, 32, 32, 64]))).toBe('Conv2D 3x3 s1 winograd');
    // 3 input channels: not in fours, so the direct kernel.
    expect(opLabel(rec('Conv2D', [[2, 32, 32, 3], [3, 3, 3, 16]], [2, 32, 32, 16]))).toBe('Conv2D 3x3 s1');
    // dX [dy, filter] -> dx; Winograd needs the dy side (Co) in fours and dx side (Ci) in eights.
    expect(opLabel(rec('Conv2DBackpropInput', [[2, 16, 16, 64], [3, 3, 32, 64]], [2, 32, 32, 32]))).toBe('Conv2DBackpropInput (dX) 3x3 s2');
    expect(opLabel(rec('Conv2DBackpropInput', [[2, 8, 8, 64], [3, 3, 4, 64]], [2, 8, 8, 4]))).toBe('Conv2DBackpropInput (dX) 3x3 s1');
    expect(opLabel(rec('Conv2DBackpropInput', [[2, 8, 8, 64], [3, 3, 32, 64]], [2, 8, 8, 32]))).toBe('Conv2DBackpropInput (dX) 3x3 s1 winograd');
    // dW [x, dy] -> filter.
    expect(opLabel(rec('Conv2DBackpropFilter', [[2, 32, 32, 32], [2, 16, 16, 64]], [1, 1, 32, 64]))).toBe('Conv2DBackpropFilter (dW) 1x1 s2');
    expect(opLabel(rec('DepthwiseConv2dNative', [[1, 112, 112, 96], [3, 3, 96, 1]], [1, 56, 56, 96]))).toBe('DepthwiseConv2dNative 3x3 s2');
    expect(opLabel(rec('Relu6', [[1, 4, 4, 8]], [1, 4, 4, 8]))).toBe('Relu6');
  });

  it('sums calls per step by label, largest first, with shares of the kernel time', () => {
    const records = [
      rec('Relu', [[1, 2]], [1, 2], 1), rec('Conv2D', [[1, 8, 8, 4], [1, 1, 4, 8]], [1, 8, 8, 8], 5),
      rec('Relu', [[1, 2]], [1, 2], 3), rec('Conv2D', [[1, 8, 8, 4], [1, 1, 4, 8]], [1, 8, 8, 8], 7),
    ];
    expect(aggregateProfile(records, 2)).toEqual([
      { op: 'Conv2D 1x1 s1', calls: 1, ms: 6, share: 0.75 },
      { op: 'Relu', calls: 1, ms: 2, share: 0.25 },
    ]);
  });
});

describe('profileBench', () => {
  it("profiles the CNN's CE step: forward, dX and dW convolutions by kind, shares summing to 1", async () => {
    const p = await profileBench({ model: 'cnn', method: 'ce', batch: 4, steps: 2, warmup: 1, seed: 0 });
    const ops = p.rows.map((r) => r.op);
    // 1 -> 32 channels (direct), then 32 -> 32, 32 -> 64, 64 -> 64 (Winograd), per step.
    expect(ops).toEqual(expect.arrayContaining(['Conv2D 3x3 s1', 'Conv2D 3x3 s1 winograd',
      'Conv2DBackpropFilter (dW) 3x3 s1 winograd', 'Conv2DBackpropInput (dX) 3x3 s1 winograd']));
    expect(p.rows.find((r) => r.op === 'Conv2D 3x3 s1 winograd')!.calls).toBe(3);
    expect(p.rows.reduce((s, r) => s + r.share, 0)).toBeCloseTo(1, 2);
    expect(p.kernel_ms).toBeGreaterThan(0);
    expect(p.kernel_ms).toBeLessThanOrEqual(p.step_ms * 1.05);
  });

  it('ares bench --profile prints a Markdown table', () => {
    const r = spawnSync(process.execPath, ['bin/ares.js', 'bench', '--profile', '--batch', '2', '--steps', '1', '--warmup', '0', '--threads', '1'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^cnn \/ ce on wasm \(1 thread\), batch 2, 1 profiled step: [\d.]+ ms\/step, of which kernels [\d.]+ ms$/);
    expect(lines[2]).toBe('| op | calls/step | ms/step | % of kernel time |');
    expect(lines.slice(4).every((l) => /^\| [^|]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$/.test(l))).toBe(true);
  });
});
