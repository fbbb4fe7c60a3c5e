import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { engineInfo, initEngine, requestedBackend, requestedThreads } from '../../src/engine/backend.js';
import { kernelRuntime } from '../../src/engine/kernels/index.js';
import { AresError } from '../../src/errors.js';

const saved = { backend: process.env.ARES_BACKEND, threads: process.env.ARES_THREADS };
afterEach(() => {
  for (const [k, v] of [['ARES_BACKEND', saved.backend], ['ARES_THREADS', saved.threads]] as const) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

describe('backend choice', () => {
  it('reads ARES_BACKEND and rejects unknown names', () => {
    process.env.ARES_BACKEND = 'cpu';
    expect(requestedBackend()).toBe('cpu');
    process.env.ARES_BACKEND = 'metal';
    expect(() => requestedBackend()).toThrow(AresError);
    delete process.env.ARES_BACKEND;
    expect(requestedBackend()).toBeNull();
  });

  it('reads ARES_THREADS (1 to 8) and defaults to the cores', () => {
    process.env.ARES_THREADS = '3';
    expect(requestedThreads()).toBe(3);
    for (const bad of ['0', '9', '1.5', 'two']) {
      process.env.ARES_THREADS = bad;
      expect(() => requestedThreads()).toThrow(/ARES_THREADS must be an integer from 1 to 8/);
    }
    delete process.env.ARES_THREADS;
    expect(requestedThreads()).toBeGreaterThanOrEqual(1);
  });

  it('says tfjs-node is needed for the tensorflow backend when it is not installed', async () => {
    await expect(initEngine({ backend: 'tensorflow' })).rejects.toThrow(/@tensorflow\/tfjs-node/);
  });

  it('starts wasm by default with the project kernels on every thread, and can switch to cpu and back', async () => {
    delete process.env.ARES_BACKEND;
    const info = await initEngine({ threads: 2 });
    expect(info).toMatchObject({ backend: 'wasm', threads: 2 });
    expect(info.customKernels).toContain('Conv2DBackpropFilter');
    expect(kernelRuntime()?.threads).toBe(2);
    expect(tf.getBackend()).toBe('wasm');
    expect((await initEngine({ backend: 'cpu' })).backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(engineInfo().backend).toBe('cpu');
    expect((await initEngine({ backend: 'wasm' })).threads).toBe(2);
    expect(tf.getBackend()).toBe('wasm');
    // tfjs moved off the engine's backend behind its back: asking for that backend moves it back.
    await tf.setBackend('cpu');
    expect((await initEngine({ backend: 'wasm' })).backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});
