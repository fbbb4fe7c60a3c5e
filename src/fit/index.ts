/** Post-hoc detection on a classifier the user already has (`ares fit`). */
export { fit, resolveNormalization, type FitOptions, type FitSummary, type FittedDetector } from './fit.js';
export { loadUserModel, toClassifierParts, layerChain, describeLogits, modelJsonPath, type LoadedUserModel, type ClassifierParts, type LogitsSource, type TmMetadata } from './load-tfjs-model.js';
export { matchClasses, type ClassMatch, type MatchBy } from './classes.js';
