/**
 * Post-hoc OOD scores on a trained model (Detector, higher = more in-distribution), whatever method
 * trained it. How a model is trained (CE, PixMix-only, VOS, ARES) is the other axis: src/methods/.
 */
export { type Detector, type DetectorName, DETECTOR_NAMES, LOGIT_SCORE_NAMES, isLogitScoreName, type LogitScoreName, type Matrix, type Matrix2D, type OutputsIn, type LabelledOutputsIn, type LinearHead, readMatrix } from './types.js';
export { msp, maxSoftmax } from './msp.js';
export { energy, negativeEnergy, negativeEnergyScores } from './energy.js';
export { mls, maxLogit, maxLogitScores } from './mls.js';
export { gen, genScore, genScores, GEN_DEFAULTS, type GenParams } from './gen.js';
export { mahalanobis, type MahalanobisState, mahalanobisStateToJson, mahalanobisStateFromJson } from './mahalanobis.js';
export { odin, odinScores, odinScoresAsync, type OdinIn, type OdinParams, type OdinState, ODIN_EPSILON_GRID } from './odin.js';
export { knn, knnScores, decodeKnnBank, knnStateFromJson, KNN_DEFAULTS, type KnnParams, type KnnState } from './knn.js';
export { vim, vimScores, vimStateToJson, vimStateFromJson, defaultPrincipalDim, type VimParams, type VimState } from './vim.js';
export { rmds, rmdsStateToJson, rmdsStateFromJson, type RmdsState } from './rmds.js';
export { react, reactScores, reactStateToJson, reactStateFromJson, percentileOf, REACT_DEFAULT_PERCENTILE, type ReactParams, type ReactState } from './react.js';
export { ash, ashScores, keptCount, shapingStateToJson, shapingStateFromJson, ASH_DEFAULT_PERCENTILE, type ShapingParams, type ShapingState } from './ash.js';
export { scale, scaleScores, SCALE_DEFAULT_PERCENTILE } from './scale.js';
export { type HeadState } from './head.js';
export { fittedScoreSpec, fittedScorer, parseFittedState, isFittedScoreName, FITTED_SCORE_NAMES, type FittedScoreName, type FittedScoreSpec } from './fitted.js';
export { cholesky, choleskyWithJitter, solveLower, classGaussians, symmetricEigen, pseudoInverse, type ClassGaussians } from '../util/linalg.js';
