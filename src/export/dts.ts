/**
 * loader.d.ts of the exported bundle: the public types of src/export/loader.ts, written out by
 * hand because the bundle ships no compiler. test/export checks this text type-checks and is
 * assignable both ways to the real declarations, so it cannot drift from them unnoticed.
 */
export const LOADER_DTS = `// Types of loader.js (ares-ood detector bundle).
import type * as tf from '@tensorflow/tfjs';

export type ScoreSpec =
  | { name: 'energy'; weights: number[] | null }
  | { name: 'msp' }
  | { name: 'mls' }
  | { name: 'gen'; gamma: number; topM: number }
  /** Feature-based scores with their fitted state (compact JSON, base64 arrays); they read the model's features output. */
  | { name: 'mahalanobis' | 'knn' | 'vim' | 'rmds' | 'react' | 'ash' | 'scale'; state: Record<string, unknown> };

/** ares.json */
export interface DetectorSpec {
  /** 2; loadDetector also reads version 1 files (no resize field: read as 'crop'). */
  version: 2;
  classNames: string[];
  /** [height, width, channels] */
  inputShape: [number, number, number];
  /** Per channel, applied to [0, 1] pixels as (x - mean) / std. */
  normalization: { mean: number[]; std: number[] };
  /**
   * How an image of another size is fitted to inputShape (antialiased bilinear): crop = scale the
   * shorter side and centre-crop; stretch = each side on its own; pad = fit inside, black margins.
   */
  resize: 'crop' | 'stretch' | 'pad';
  /**
   * Higher = more in-distribution. energy: log sum_k relu(w_k) exp(f_k) (weights null: all 1);
   * msp: max softmax; mahalanobis: -min_k squared Mahalanobis distance; knn: -distance to the k-th
   * nearest normalised training feature; vim: logsumexp(logits) - alpha*residual norm; rmds:
   * -min_k (MD_k - MD_0); mls: max logit; gen: -sum over the top M softmax probabilities of
   * p^gamma (1-p)^gamma; react, ash, scale: logsumexp of the logits recomputed from clipped (react)
   * or shaped (ash, scale) features through the head the state carries.
   */
  score: ScoreSpec;
  /** Accept iff score >= gamma. */
  threshold: { gamma: number; tpr: number; on: 'id-validation' };
  /** The model's learned energy weights, kept when score is not energy (not used for predictions). */
  energyWeights?: number[];
  /** Present for a tfjs graph model: the nodes giving the logits and features, and the head's weight constants. */
  model?: {
    format: 'graph-model';
    logits: string;
    features: string | null;
    headKernel?: string;
    headKernelTransposed?: boolean;
    headBias?: string;
  };
  /**
   * Outputs fitted without ID images (ascending) and what predicting one answers: 'known' (its
   * class name when the score accepts) or 'unknown' (always).
   */
  unseenClasses?: { classes: number[]; answer: 'known' | 'unknown' };
}

export interface ImageDataLike {
  width: number;
  height: number;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) values per pixel; Uint8 values are 0-255, Float32 values [0, 1]. Alpha is composited onto black. */
  data: Uint8ClampedArray | Uint8Array | Float32Array;
}

/** [N, H, W, C] or [H, W, C] tensor of [0, 1] pixels, or ImageData-like images. */
export type DetectorInput = tf.Tensor4D | tf.Tensor3D | ImageDataLike | ImageDataLike[];

export interface Prediction {
  /** Class name, or 'unknown' when score < gamma or the class is declared unknown. accepted: score >= gamma. */
  label: string;
  classIndex: number;
  score: number;
  accepted: boolean;
  /** Present when classIndex is an unseen class declared unknown: label is 'unknown' whatever the score. */
  declaredUnknown?: true;
  probabilities?: number[];
}

export interface PredictOptions {
  probabilities?: boolean;
  batchSize?: number;
}

export interface Detector {
  readonly classNames: string[];
  readonly spec: DetectorSpec;
  /** A layers model (outputs [logits, features]) or a graph model (spec.model names its nodes). */
  readonly model: tf.LayersModel | tf.GraphModel;
  predict(input: DetectorInput, opts?: PredictOptions): Promise<Prediction[]>;
  logits(input: DetectorInput, batchSize?: number): Promise<{ values: Float32Array; numClasses: number }>;
  dispose(): void;
}

export interface LoadOptions {
  fetch?: typeof fetch;
  /** Browser: false keeps tfjs's default backend where WebGPU is available (default true: webgpu when navigator.gpu gives an adapter and the page set no backend). */
  webgpu?: boolean;
}

export declare const UNKNOWN = "unknown";

/** Loads a bundle (or run folder) from a URL, or a path in Node. */
export declare function loadDetector(urlOrPath: string, opts?: LoadOptions): Promise<Detector>;

/** The [h, w, c] pixels in [0, 1] the model sees for one image (alpha onto black, resized by spec.resize, grey<->RGB by luma), before normalisation. */
export declare function modelPixels(img: ImageDataLike, spec: Pick<DetectorSpec, 'inputShape' | 'resize'>): Float32Array;

export declare function createDetector(model: tf.LayersModel | tf.GraphModel, spec: DetectorSpec): Detector;
`;
