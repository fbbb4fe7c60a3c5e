import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { benchPairs, median, registerBenchStep, runBench } from '../../src/bench/index.js';
import { AresError } from '../../src/errors.js';

beforeAll(async () => { await initEngine({ backend: 'wasm' }); });

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/ares.js', 'bench', ...args], { encoding: 'utf8' });

describe('runBench', () => {
  it('times the CE step of the reference CNN and reports what design.md asks for', async () => {
    const r = await runBench({ model: 'cnn', method: 'ce', batch: 8, steps: 3, warmup: 1, seed: 0 });
    expect(r).toMatchObject({ model: 'cnn', method: 'ce', backend: 'wasm', batch: 8, steps: 3, tensor_growth: 0 });
    expect(r.threads).toBeGreaterThanOrEqual(1);
    expect(r.ms_per_step).toBeGreaterThan(0);
    expect(r.ms_min).toBeLessThanOrEqual(r.ms_per_step);
    expect(r.images_per_s).toBeCloseTo(8000 / r.ms_per_step, 0);
    expect(Number.isFinite(r.loss)).toBe(true);
  });

  it('uses a registered step factory and takes the median of the timed steps only', async () => {
    // A fake clock: each step advances it by that step's duration (warm-up 50, then 2, 9, 4).
    const durations = [50, 2, 9, 4];
    let t = 0, n = 0;
    registerBenchStep('cnn', 'test-clock', () => ({ step: () => { t += durations[n++]; return n; }, dispose: () => {} }));
    const r = await runBench({ model: 'cnn', method: 'test-clock', batch: 2, steps: 3, warmup: 1, seed: 0, clock: () => t });
    expect(n).toBe(4);
    expect(r).toMatchObject({ ms_per_step: 4, ms_min: 2, ms_max: 9, images_per_s: 500, loss: 4 });
    expect(benchPairs()).toContainEqual({ model: 'cnn', method: 'test-clock' });
  });

  it('rejects unknown pairs and bad counts with AresError', async () => {
    await expect(runBench({ model: 'cnn', method: 'nope', batch: 8, steps: 1, warmup: 0, seed: 0 })).rejects.toThrow(AresError);
    await expect(runBench({ model: 'vgg', method: 'ce', batch: 8, steps: 1, warmup: 0, seed: 0 })).rejects.toThrow(/no benchmark step for model "vgg"/);
    await expect(runBench({ model: 'cnn', method: 'ce', batch: 0, steps: 1, warmup: 0, seed: 0 })).rejects.toThrow(/--batch/);
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });

  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('ares bench (CLI)', () => {
  it('prints one JSON object per line with --json, and the same loss on 1 and 2 threads', () => {
    const run = (threads: number) => {
      const out = execFileSync(process.execPath, ['bin/ares.js', 'bench', '--json', '--steps', '2', '--warmup', '0', '--batch', '8', '--threads', String(threads)], { encoding: 'utf8' });
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(1);
      return JSON.parse(lines[0]);
    };
    const one = run(1), two = run(2);
    expect(one).toMatchObject({ model: 'cnn', method: 'ce', backend: 'wasm', threads: 1, batch: 8 });
    expect(two.threads).toBe(2);
    // Every kernel splits work so that each output is summed in one fixed order.
    expect(two.loss).toBe(one.loss);
  });

  it('prints a readable line without --json and exits 2 on an unknown model', () => {
    const ok = cli('--steps', '1', '--warmup', '0', '--batch', '4');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^cnn \/ ce on wasm \(\d threads?\), batch 4: [\d.]+ ms\/step/);
    const bad = cli('--model', 'vgg');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/ares: error: no benchmark step for model "vgg"/);
  });
});
