/**
 * OOD metrics. Every score is "higher = more in-distribution" (design rule 1); no function here flips
 * a sign behind the caller's back. Rates are fractions in [0, 1]. All metrics are exact: ties count
 * half in AUROC, tie groups form one threshold in AUPR and in the ROC curve, nothing is binned.
 */
export { type Scores } from './scores.js';
export { type FprConvention, FPR_CONVENTIONS, type FprResult, fprAtTpr, thresholdAtTpr } from './fpr.js';
export { auroc, auprIn, auprOut, averagePrecision } from './auc.js';
export { type RocPoint, rocCurve } from './roc.js';
export { type OodMetrics, oodMetrics, accuracy, argmaxRows, type MeanStd, meanStd, formatMeanStd } from './summary.js';
export { parseScores, readScoreFile } from './score-file.js';
export { type EnergySeparation, energySeparation } from './energy-separation.js';
export { type PairedDifference, pairedDifference, tQuantile975, verdict } from './paired.js';
