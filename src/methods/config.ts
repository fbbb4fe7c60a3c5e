import type { ModelName } from '../models/types.js';
import type { AugmentSetting } from '../data/augment.js';

/** Training methods (design rule 2: how a model is trained; scoring is a separate axis). */
export type Method = 'ares' | 'ce' | 'pixmix-only' | 'vos';
export const METHODS: readonly Method[] = ['ares', 'ce', 'pixmix-only', 'vos'];

import { DEFAULT_DIVERGENCE, DIVERGENCE_FORMS, type DivergenceForm } from '../ares/divergence.js';
import { DISCRIMINATION_LOSSES, DEFAULT_DISCRIMINATION, type DiscriminationLoss } from '../ares/discrimination.js';

export { DIVERGENCE_FORMS, type DivergenceForm, DISCRIMINATION_LOSSES, type DiscriminationLoss };

export interface TrainConfig {
  method: Method;
  model: ModelName;
  /** In-distribution source (built-in name or path), and OOD test sources evaluated at the end. */
  id: string;
  ood: string[];
  /** Validation OOD set: the only OOD data hyperparameters and defaults may be chosen on. */
  valOod: string;
  /** ID classes kept (open-set experiments); all when absent. */
  idClasses?: number[];
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
  /** Divergence: β weight, the form, and the discrimination loss. */
  beta: number;
  divergence: DivergenceForm;
  loss: DiscriminationLoss;
  /** VOS: per-class queue length, candidates per class, loss weight. */
  vosQueue: number;
  vosCandidates: number;
  vosWeight: number;
  /** Target acceptance of ID validation data for the threshold γ. */
  tpr: number;
}

export const DEFAULT_CONFIG: Omit<TrainConfig, 'id'> = {
  method: 'ares',
  model: 'cnn',
  ood: [],
  valOod: 'blobs',
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
  beta: DEFAULT_DIVERGENCE.beta,
  divergence: DEFAULT_DIVERGENCE.form,
  loss: DEFAULT_DISCRIMINATION.loss,
  vosQueue: 1000,
  vosCandidates: 10_000,
  vosWeight: 0.1,
  tpr: 0.95,
};

/** The method's stages: which parts of Algorithm 1 run. */
export function stagesOf(cfg: Pick<TrainConfig, 'method' | 'escape'>) {
  return {
    escape: (cfg.method === 'ares' || cfg.method === 'pixmix-only') && cfg.escape,
    outliers: cfg.method === 'ares' || cfg.method === 'vos',
  };
}
