/**
 * Turns what a user has (a tensor of [0, 1] pixels, or ImageData-like RGBA arrays from a canvas)
 * into the model's normalised input batch. tfjs only, so it runs in Node and in the browser.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import type { DetectorSpec } from '../run/detector.js';

/** Browser ImageData or anything shaped like it: row-major pixels, 1, 3 or 4 values each. */
export interface ImageDataLike {
  width: number;
  height: number;
  /** Uint8 / Uint8Clamped values are 0–255; Float32 values are taken as [0, 1]. */
  data: Uint8ClampedArray | Uint8Array | Float32Array;
}

/** A [N, H, W, C] or [H, W, C] tensor of [0, 1] pixels, or one or more ImageData-like images. */
export type DetectorInput = tf.Tensor4D | tf.Tensor3D | ImageDataLike | ImageDataLike[];

// ITU-R BT.601 luma, the weights browsers and most decoders use for RGB → grey.
const LUMA = [0.299, 0.587, 0.114];

function isImageDataLike(v: unknown): v is ImageDataLike {
  const o = v as ImageDataLike;
  return typeof o === 'object' && o !== null && typeof o.width === 'number' && typeof o.height === 'number'
    && (o.data instanceof Uint8ClampedArray || o.data instanceof Uint8Array || o.data instanceof Float32Array);
}

function isTensor(v: unknown): v is tf.Tensor {
  return v instanceof tf.Tensor || (typeof v === 'object' && v !== null && typeof (v as tf.Tensor).rank === 'number' && typeof (v as tf.Tensor).dataSync === 'function');
}

function imageToTensor(img: ImageDataLike, index: number): tf.Tensor3D {
  const px = img.width * img.height;
  const k = px > 0 ? img.data.length / px : 0;
  if (![1, 3, 4].includes(k)) {
    throw new AresError(`image ${index}: ${img.data.length} values for ${img.width}×${img.height} pixels (expected 1, 3 or 4 per pixel)`);
  }
  const scale = img.data instanceof Float32Array ? 1 : 1 / 255;
  const f = new Float32Array(img.data.length);
  for (let i = 0; i < f.length; i++) f[i] = img.data[i] * scale;
  return tf.tensor3d(f, [img.height, img.width, k]);
}

/** Makes channels match: drop alpha, RGB → grey by luma, grey → RGB by repeating. */
function fitChannels(x: tf.Tensor4D, c: number): tf.Tensor4D {
  let cur = x.shape[3];
  if (cur === c) return x;
  if (cur === 4) { x = x.slice([0, 0, 0, 0], [-1, -1, -1, 3]); cur = 3; }
  if (cur === c) return x;
  if (cur === 3 && c === 1) return tf.sum(tf.mul(x, tf.tensor1d(LUMA)), 3, true);
  if (cur === 1 && c === 3) return tf.tile(x, [1, 1, 1, 3]);
  throw new AresError(`input has ${x.shape[3]} channels; the model takes ${c}`);
}

/**
 * The normalised [N, h, w, c] batch for `spec`: channels fitted, resized bilinearly when the size
 * differs, then (x − mean) / std per channel. The caller disposes the result.
 */
export function toModelInput(input: DetectorInput, spec: DetectorSpec): tf.Tensor4D {
  const [h, w, c] = spec.inputShape;
  return tf.tidy(() => {
    let x: tf.Tensor4D;
    if (isTensor(input)) {
      if (input.rank === 3) x = input.expandDims(0) as tf.Tensor4D;
      else if (input.rank === 4) x = input as tf.Tensor4D;
      else throw new AresError(`input tensor has rank ${input.rank}; expected [N, H, W, C] or [H, W, C]`);
      x = x.toFloat();
    } else {
      const imgs = Array.isArray(input) ? input : [input];
      if (imgs.length === 0) throw new AresError('no images given');
      imgs.forEach((img, i) => { if (!isImageDataLike(img)) throw new AresError(`input ${i} is neither a tensor nor ImageData-like {width, height, data}`); });
      // Images may differ in size and channels: fit each, then stack.
      x = tf.stack(imgs.map((img, i) => {
        let t = fitChannels(imageToTensor(img, i).expandDims(0) as tf.Tensor4D, c);
        if (t.shape[1] !== h || t.shape[2] !== w) t = tf.image.resizeBilinear(t, [h, w], false, true);
        return t.squeeze([0]);
      })) as tf.Tensor4D;
    }
    x = fitChannels(x, c);
    if (x.shape[1] !== h || x.shape[2] !== w) x = tf.image.resizeBilinear(x, [h, w], false, true);
    const { mean, std } = spec.normalization;
    return tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor4D;
  });
}
