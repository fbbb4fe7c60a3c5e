/**
 * Post-hoc OOD scores on a trained model (Detector, higher = more in-distribution), whatever method
 * trained it. How a model is trained (CE, PixMix-only, VOS, ARES) is the other axis: src/methods/.
 */
export { type Detector, type DetectorName, DETECTOR_NAMES, type Matrix, type Matrix2D, type OutputsIn, type LabelledOutputsIn, readMatrix } from './types.js';
export { msp, maxSoftmax } from './msp.js';
export { energy, negativeEnergy, negativeEnergyScores } from './energy.js';
export { mahalanobis, type MahalanobisState, mahalanobisStateToJson, mahalanobisStateFromJson } from './mahalanobis.js';
export { odin, odinScores, type OdinIn, type OdinParams, type OdinState, ODIN_EPSILON_GRID } from './odin.js';
export { cholesky, choleskyWithJitter, solveLower, classGaussians, type ClassGaussians } from '../util/linalg.js';
