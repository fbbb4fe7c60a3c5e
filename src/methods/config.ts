import type { ModelName } from '../models/types.js';
import type { AugmentSetting } from '../data/augment.js';
import type { ResizeMode } from '../data/input-contract.js';

/**
 * Training methods (design rule 2: how a model is trained; scoring is a separate axis).
 * `logitnorm` and `rotation` change the loss (src/methods/logitnorm.ts, rotation.ts); their `pixmix-`
 * forms train the same loss on PixMix images, as `pixmix-only` does for cross-entropy.
 */
export type Method = 'ares' | 'ce' | 'pixmix-only' | 'vos' | 'logitnorm' | 'pixmix-logitnorm' | 'rotation' | 'pixmix-rotation';
export const METHODS: readonly Method[] = ['ares', 'ce', 'pixmix-only', 'vos', 'logitnorm', 'pixmix-logitnorm', 'rotation', 'pixmix-rotation'];

/** Methods whose classification loss is LogitNorm's instead of plain cross-entropy. */
export const usesLogitNorm = (method: Method): boolean => method === 'logitnorm' || method === 'pixmix-logitnorm';
/** Methods that train the auxiliary 4-way rotation head (the model gets a third output). */
export const usesRotation = (method: Method): boolean => method === 'rotation' || method === 'pixmix-rotation';

import { DEFAULT_DIVERGENCE, DIVERGENCE_FORMS, type DivergenceForm } from '../ares/divergence.js';
import { DISCRIMINATION_LOSSES, DEFAULT_DISCRIMINATION, type DiscriminationLoss } from '../ares/discrimination.js';
import { DEFAULT_ESTIMATION, ESTIMATION_SOURCES, type EstimationSource } from '../ares/estimation.js';

export { DIVERGENCE_FORMS, type DivergenceForm, DISCRIMINATION_LOSSES, type DiscriminationLoss, ESTIMATION_SOURCES, type EstimationSource };

export interface TrainConfig {
  method: Method;
  model: ModelName;
  /** In-distribution source (built-in name or path), and OOD test sources evaluated at the end. */
  id: string;
  ood: string[];
  /**
   * Validation OOD set(s): the only OOD data hyperparameters and defaults may be chosen on. One
   * name or a list; `pixel-permuted`, `patch-shuffled` and `blurred` are made from the ID
   * validation split (docs/validation-protocol.md).
   */
  valOod: string | string[];
  /** ID classes kept (open-set experiments); all when absent. */
  idClasses?: number[];
  /**
   * A retrained held-out-class fold (near-OOD validation): this one of idClasses is left out of
   * training and its training-split images are a validation OOD set (src/data/prepare.ts).
   */
  foldClass?: number;
  /** Use at most this many training images (before the validation split). */
  limit?: number;
  /** Share of the training images held out as ID validation (threshold γ, model selection). */
  valFraction: number;
  seed: number;
  epochs: number;
  /** Epochs of CE only (on PixMix images for ares/pixmix-only) before the outlier loss starts. */
  pretrainEpochs: number;
  batchSize: number;
  /**
   * Augmentation of each raw training batch (before PixMix): pad-4 random crop + horizontal flip, or
   * none; `auto` resolves from the data shape (crop-flip for RGB ≥ 32×32), and a run records the result.
   */
  augment: AugmentSetting;
  /** How images of another size are fitted to the model's input (crop, stretch, pad); absent: crop, as before the option. */
  resize?: ResizeMode;
  /** SGD, momentum 0.9 Nesterov, weight decay 5e-4, lr 0.1 → 1e-6 cosine per step (paper 4.1.2). */
  lr: number;
  lrMin: number;
  momentum: number;
  weightDecay: number;
  /** Escape: PixMix with fractals, k = 4 rounds at most, β = 3. */
  escape: boolean;
  pixmixRounds: number;
  pixmixBeta: number;
  fractalBankSize: number;
  /** Expansion: feature mixup λ ~ Beta(α2, α2), α2 = 2; FIFO pool of the last poolSize mixed features. */
  expansion: boolean;
  mixupAlpha: number;
  poolSize: number;
  /** Estimation: draw `candidates` from N(μ, Σ) of the pool, keep the batch-size lowest likelihood. */
  estimation: boolean;
  candidates: number;
  /** Estimation option: `sampler` (the above) or `pool` (the least likely pool instances, paper Fig. 1(c)). */
  estimationSource: EstimationSource;
  /** Estimation option: the sampler draws from N(μ, τ²Σ) with this τ (1 = the paper). */
  estimationScale: number;
  /** Divergence: β weight, the form, and the discrimination loss. */
  beta: number;
  divergence: DivergenceForm;
  loss: DiscriminationLoss;
  /** VOS: per-class queue length, candidates per class, loss weight. */
  vosQueue: number;
  vosCandidates: number;
  vosWeight: number;
  /** LogitNorm: temperature τ of CE(f / (τ·‖f‖)); 0.04 is the paper's CIFAR-10 value. */
  logitNormTau: number;
  /** Rotation prediction: weight λ of the rotation loss (CE_class + λ·CE_rot); 0.5 as in the paper's code. */
  rotationWeight: number;
  /**
   * Label smoothing ε of every method's classification cross-entropy (targets (1 − ε)·onehot + ε/K);
   * 0: plain cross-entropy, as before the option (runs written before it have no such key).
   */
  labelSmoothing: number;
  /** Target acceptance of ID validation data for the threshold γ. */
  tpr: number;
  /** Start from these weights (a tfjs layers model.json of the same architecture) instead of a fresh initialisation. */
  init?: string;
  /** With init: keep the layers up to and including this one fixed. */
  freeze?: string;
  /** The layers --freeze keeps fixed (names as in the init model), recorded by resolveConfig. */
  frozenLayers?: string[];
  /**
   * --ensemble k: k models with seeds seed..seed+k−1, evaluated as one (mean logits and features;
   * src/methods/ensemble.ts). Absent for a single model (k = 1 is stored as absent).
   */
  ensemble?: number;
}

/** The validation OOD sets of the written protocol (docs/validation-protocol.md): none shares a generator with a test set. */
export const VALIDATION_OOD_SETS = ['pixel-permuted', 'patch-shuffled', 'blurred', 'blobs'] as const;

export const DEFAULT_CONFIG: Omit<TrainConfig, 'id'> = {
  method: 'ares',
  model: 'cnn',
  ood: [],
  valOod: [...VALIDATION_OOD_SETS],
  valFraction: 0.1,
  seed: 0,
  epochs: 6,
  pretrainEpochs: 2,
  batchSize: 128,
  augment: 'auto',
  lr: 0.1,
  lrMin: 1e-6,
  momentum: 0.9,
  weightDecay: 5e-4,
  escape: true,
  pixmixRounds: 4,
  pixmixBeta: 3,
  fractalBankSize: 2000,
  expansion: true,
  mixupAlpha: 2,
  poolSize: 10_000,
  estimation: true,
  candidates: 10_000,
  estimationSource: DEFAULT_ESTIMATION.source,
  estimationScale: DEFAULT_ESTIMATION.scale,
  beta: DEFAULT_DIVERGENCE.beta,
  divergence: DEFAULT_DIVERGENCE.form,
  loss: DEFAULT_DISCRIMINATION.loss,
  vosQueue: 1000,
  vosCandidates: 10_000,
  vosWeight: 0.1,
  logitNormTau: 0.04,
  rotationWeight: 0.5,
  labelSmoothing: 0,
  tpr: 0.95,
};

/** TrainConfig.valOod as a list (a single name is the older form). */
export function valOodList(v: string | string[] | undefined): string[] {
  return v === undefined || v === '' ? [] : Array.isArray(v) ? v : [v];
}

/** Runs written before `labelSmoothing` existed trained without it (0). */
export function withStoredLabelSmoothing<T extends { labelSmoothing?: unknown }>(cfg: T): T {
  return cfg.labelSmoothing === undefined ? { ...cfg, labelSmoothing: 0 } : cfg;
}

/** The method's stages: which parts of Algorithm 1 run. */
export function stagesOf(cfg: Pick<TrainConfig, 'method' | 'escape'>) {
  return {
    escape: (cfg.method === 'ares' || cfg.method.startsWith('pixmix-')) && cfg.escape,
    outliers: cfg.method === 'ares' || cfg.method === 'vos',
  };
}
