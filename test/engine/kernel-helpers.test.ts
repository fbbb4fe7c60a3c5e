import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { KernelRuntime } from '../../src/engine/kernels/runtime.js';
import { wasmMemory, type WasmBackendInternals } from '../../src/engine/wasm-init.js';
import { Rng } from '../../src/util/rng.js';
import { randn } from './helpers.js';

// A kernel helper thread whose part throws: its part is computed again on the calling thread,
// bit-identical to a clean run, and only a failure there too is an error (naming both messages).
let rt: KernelRuntime;
beforeAll(async () => {
  const info = await initEngine({ backend: 'wasm', threads: 2 });
  expect(info.threads).toBe(2);
  rt = await KernelRuntime.create(tf.findBackend('wasm')!, 2);
  expect(rt.threads).toBe(2);
});
afterAll(async () => { await rt.dispose(); });

const heapF32 = () => new Float32Array(wasmMemory(tf.backend() as unknown as WasmBackendInternals).buffer);

/** pad_nhwc of a seeded [2, 9, 7, 3] tensor into a fresh buffer, read back. */
function pad(beforeCall: () => void = () => {}): Float32Array {
  const [B, H, W, C, Hp, Wp] = [2, 9, 7, 3, 11, 9];
  const x = tf.tensor4d(randn(new Rng(3), B * H * W * C), [B, H, W, C]);
  const dst = rt.malloc(4 * B * Hp * Wp * C);
  try {
    heapF32().fill(NaN, dst >>> 2, (dst >>> 2) + B * Hp * Wp * C);
    beforeCall();
    rt.run('pad_nhwc', rt.ptr(x), B, H, W, C, dst, Hp, Wp, 1, 1);
    return heapF32().slice(dst >>> 2, (dst >>> 2) + B * Hp * Wp * C);
  } finally { rt.free(dst); x.dispose(); }
}

describe('kernel helper threads', () => {
  it('recompute a failed helper part on the calling thread, bit-identical, and say so once', () => {
    const clean = pad();
    expect(clean.some(Number.isNaN)).toBe(false);
    const writes: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => { writes.push(String(chunk)); return true; }) as typeof process.stderr.write;
    let recovered: Float32Array;
    try { recovered = pad(() => rt.failHelperOnNextCall(1)); } finally { process.stderr.write = write; }
    expect(Buffer.from(recovered.buffer).equals(Buffer.from(clean.buffer))).toBe(true);
    expect(rt.recovered).toEqual(['pad_nhwc: Error: injected failure (test)']);
    expect(writes.join('')).toMatch(/^ares: warning: kernel pad_nhwc failed in a helper thread \(Error: injected failure \(test\)\); its part was recomputed on the calling thread\n$/);
    // The helper is still in service: the next call runs on both threads without another failure.
    expect(Buffer.from(pad().buffer).equals(Buffer.from(clean.buffer))).toBe(true);
    expect(rt.recovered.length).toBe(1);
  });

  it('fail with both threads\' messages when the part fails on the calling thread too', () => {
    // relu_fwd over n floats whose second half (the helper's part) lies past the end of the heap.
    const bytes = wasmMemory(tf.backend() as unknown as WasmBackendInternals).buffer.byteLength;
    const n = 1 << 16, x = bytes - 4 * (n / 2) - 64;
    const y = rt.malloc(4 * n);
    try {
      expect(() => rt.run('relu_fwd', x, n, y)).toThrow(/^internal: kernel relu_fwd failed in a helper thread \(RuntimeError: memory access out of bounds\) and again on the calling thread \(RuntimeError: memory access out of bounds\)$/);
      // The failed call left the helpers in step: the next call is clean.
      expect(Buffer.from(pad().buffer).equals(Buffer.from(pad().buffer))).toBe(true);
    } finally { rt.free(y); }
  });

  it('fail with this thread\'s error when its own part throws, and leave no failure behind for the next call', () => {
    // relu_fwd wholly past the end of the heap: both threads' parts fail, and the helper's failure
    // bit must not outlive this call (the next call would recompute a part that did not fail).
    const bytes = wasmMemory(tf.backend() as unknown as WasmBackendInternals).buffer.byteLength;
    const n = 1 << 16;
    const before = rt.recovered.length;
    expect(() => rt.run('relu_fwd', bytes + 4096, n, bytes + 4096)).toThrow(/^memory access out of bounds$/);
    pad();
    expect(rt.recovered.length).toBe(before);
  });
});
