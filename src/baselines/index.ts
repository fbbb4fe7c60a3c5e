/**
 * Baselines on two separate axes (design rule 2):
 * - post-hoc scores on a trained model: msp, odin, energy, mahalanobis (Detector, higher = more ID);
 * - training-method pieces: VOS's outlier stage (vos.ts); CE, PixMix-only and ARES train in src/ares/.
 */
export { type Detector, type DetectorName, DETECTOR_NAMES, type Matrix, type Matrix2D, type OutputsIn, type LabelledOutputsIn, readMatrix } from './types.js';
export { msp, maxSoftmax } from './msp.js';
export { energy, negativeEnergy, negativeEnergyScores } from './energy.js';
export { mahalanobis, type MahalanobisState, mahalanobisStateToJson, mahalanobisStateFromJson } from './mahalanobis.js';
export { odin, odinScores, type OdinIn, type OdinParams, type OdinState, ODIN_EPSILON_GRID } from './odin.js';
export {
  VOS_DEFAULTS, type ClassQueues, createClassQueues, enqueueFeatures, queuesFull, vosLossActive, queueGaussians,
  drawCandidates, lowestLikelihoodSamples, type CandidateSampling, sampleVirtualOutliers, type VosParams, createVosParams, vosUncertaintyLoss,
} from './vos.js';
export { cholesky, choleskyWithJitter, solveLower, classGaussians, type ClassGaussians } from './linalg.js';
