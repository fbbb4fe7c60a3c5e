/**
 * Turns what a user has (a tensor of [0, 1] pixels, or ImageData-like RGBA arrays from a canvas)
 * into the model's normalised input batch. tfjs and pure TypeScript only, so it runs in Node and
 * in the browser.
 */
import * as tf from '@tensorflow/tfjs';
import { toModelPixels } from '../data/input-contract.js';
import { AresError } from '../errors.js';
import type { DetectorSpec } from '../run/detector.js';

/** Browser ImageData or anything shaped like it: row-major pixels, 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) values each. */
export interface ImageDataLike {
  width: number;
  height: number;
  /** Uint8 / Uint8Clamped values are 0–255; Float32 values are taken as [0, 1]. */
  data: Uint8ClampedArray | Uint8Array | Float32Array;
}

/** A [N, H, W, C] or [H, W, C] tensor of [0, 1] pixels, or one or more ImageData-like images. */
export type DetectorInput = tf.Tensor4D | tf.Tensor3D | ImageDataLike | ImageDataLike[];

function isImageDataLike(v: unknown): v is ImageDataLike {
  const o = v as ImageDataLike;
  return typeof o === 'object' && o !== null && typeof o.width === 'number' && typeof o.height === 'number'
    && (o.data instanceof Uint8ClampedArray || o.data instanceof Uint8Array || o.data instanceof Float32Array);
}

function isTensor(v: unknown): v is tf.Tensor {
  return v instanceof tf.Tensor || (typeof v === 'object' && v !== null && typeof (v as tf.Tensor).rank === 'number' && typeof (v as tf.Tensor).dataSync === 'function');
}

/**
 * The [h, w, c] pixels in [0, 1] the model sees for one image (before normalisation): the input
 * contract of src/data/input-contract.ts — alpha onto black, resized by spec.resize, grey↔RGB by
 * luma — the same code `ares predict` runs on the pixels sharp decodes.
 */
export function modelPixels(img: ImageDataLike, spec: Pick<DetectorSpec, 'inputShape' | 'resize'>): Float32Array {
  return toModelPixels(img, spec.inputShape, spec.resize);
}

/**
 * [N, H, W, C] pixels of other sizes or channels, through the contract image by image. Read with
 * await: the webgpu backend reads GPU-held tensors only asynchronously in Node, and a synchronous
 * read in a browser stalls the page.
 */
async function conformTensor(x: tf.Tensor4D, spec: DetectorSpec): Promise<tf.Tensor4D> {
  const [n, ih, iw, k] = x.shape;
  const [h, w, c] = spec.inputShape;
  const values = await x.data() as Float32Array;
  const per = ih * iw * k;
  const out = new Float32Array(n * h * w * c);
  for (let i = 0; i < n; i++) {
    out.set(toModelPixels({ width: iw, height: ih, data: values.subarray(i * per, (i + 1) * per) }, spec.inputShape, spec.resize, `image ${i}`), i * h * w * c);
  }
  return tf.tensor4d(out, [n, h, w, c]);
}

/**
 * The normalised [N, h, w, c] batch for `spec`: images of another size or channel count go
 * through the input contract (modelPixels), then (x − mean) / std per channel. The caller
 * disposes the result.
 */
export async function toModelInput(input: DetectorInput, spec: DetectorSpec): Promise<tf.Tensor4D> {
  const [h, w, c] = spec.inputShape;
  let x: tf.Tensor4D;
  if (isTensor(input)) {
    if (input.rank !== 3 && input.rank !== 4) throw new AresError(`input tensor has rank ${input.rank}; expected [N, H, W, C] or [H, W, C]`);
    x = tf.tidy(() => (input.rank === 3 ? input.expandDims(0) : input).toFloat() as tf.Tensor4D);
    if (x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
      let conformed: tf.Tensor4D;
      try {
        conformed = await conformTensor(x, spec);
      } finally {
        if (x !== input) x.dispose();
      }
      x = conformed;
    }
  } else {
    const imgs = Array.isArray(input) ? input : [input];
    if (imgs.length === 0) throw new AresError('no images given');
    imgs.forEach((img, i) => { if (!isImageDataLike(img)) throw new AresError(`input ${i} is neither a tensor nor ImageData-like {width, height, data}`); });
    // Images may differ in size and channels: each goes through the contract on its own.
    const out = new Float32Array(imgs.length * h * w * c);
    imgs.forEach((img, i) => out.set(toModelPixels(img, spec.inputShape, spec.resize, `image ${i}`), i * h * w * c));
    x = tf.tensor4d(out, [imgs.length, h, w, c]);
  }
  const { mean, std } = spec.normalization;
  const y = tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor4D);
  // x is ours unless it is the caller's own tensor passed through unchanged.
  if (x !== input) x.dispose();
  return y;
}
