import * as tf from '@tensorflow/tfjs';
import type { WasmBackendInternals } from '../wasm-init.js';

type Heap = WasmBackendInternals & { typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray };

/**
 * Tile as block copies. tfjs's wasm Tile computes an index per output element, which made the
 * inference-mode batch-norm gradient (it tiles [1,1,1,C] scales to the activation's shape) cost
 * ~8× a whole forward pass in ODIN's input gradient. Here each level builds one block of its
 * sub-shape and then repeats it with memmove (copyWithin), so the cost is that of writing the output.
 */
export function tileInto(src: tf.TypedArray, shape: readonly number[], reps: readonly number[], dst: tf.TypedArray): void {
  const rank = shape.length;
  if (rank === 0) { dst[0] = src[0]; return; }
  // outInner[d]: elements of one output block below dimension d; inInner[d]: the same for the input.
  const outInner = new Array<number>(rank + 1).fill(1);
  const inInner = new Array<number>(rank + 1).fill(1);
  for (let d = rank - 1; d >= 0; d--) {
    outInner[d] = outInner[d + 1] * shape[d] * reps[d];
    inInner[d] = inInner[d + 1] * shape[d];
  }
  const fill = (d: number, from: number, to: number): void => {
    const block = outInner[d + 1] * shape[d];
    if (d === rank - 1) {
      dst.set(src.subarray(from, from + shape[d]), to);
    } else {
      for (let i = 0; i < shape[d]; i++) fill(d + 1, from + i * inInner[d + 1], to + i * outInner[d + 1]);
    }
    // Repeat the block reps[d] times, doubling the filled span each round.
    let filled = block;
    const total = block * reps[d];
    while (filled < total) {
      const n = Math.min(filled, total - filled);
      dst.copyWithin(to + filled, to, to + n);
      filled += n;
    }
  };
  fill(0, 0, 0);
}

export function tileConfig(own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.Tile,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { reps } = args.attrs as unknown as { reps: number[] };
      if (x.dtype === 'string' || x.dtype === 'complex64' || reps.length !== x.shape.length) return own(args);
      const be = args.backend as unknown as Heap;
      const out = be.makeOutput(x.shape.map((s, d) => s * reps[d]), x.dtype);
      if (tf.util.sizeFromShape(out.shape) === 0) return out;
      // Views after makeOutput: allocating may grow (and so detach) the heap.
      tileInto(be.typedArrayFromHeap(x), x.shape, reps, be.typedArrayFromHeap(out));
      return out;
    },
  };
}
