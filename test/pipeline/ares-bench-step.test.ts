import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { benchStepFactory } from '../../src/bench/index.js';

beforeAll(async () => { await initEngine(); });

describe('ares bench --method ares', () => {
  it('runs the full ARES step (all four stages) with a finite loss and no tensor growth', async () => {
    const bench = await benchStepFactory('cnn', 'ares')({ batch: 32, seed: 1 });
    const losses: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) { losses.push(await bench.step()); counts.push(tf.memory().numTensors); }
    bench.dispose();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(new Set(counts.slice(1)).size).toBe(1);
  });
});
