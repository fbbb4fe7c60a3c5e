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
}
