import { thresholdAtTpr } from './fpr.js';

/**
 * How inlier and virtual-outlier energies stand apart during training (one epoch's steps pooled).
 * Energies E, not scores: the detector's score is −E, so outliers should sit at HIGHER energy.
 * γ is set on the same epoch's inlier scores −E at the run's TPR (the training-time view: PixMix
 * inliers in training mode, pooled over an epoch in which the model moves). It shows whether the
 * virtual outliers would be rejected by a threshold placed the way the detector places its own;
 * the detector's γ itself is set once, on the ID validation split, after training.
 */
export interface EnergySeparation {
  /** Mean and (population) standard deviation of the inlier energies. */
  inMean: number;
  inStd: number;
  /** The same of the virtual outliers' energies. */
  outMean: number;
  outStd: number;
  /** γ on the score −E, accepting `tpr` of the epoch's inliers. */
  gamma: number;
  /** Share of virtual outliers with −E < γ: the ones that γ calls unknown. */
  outliersRejected: number;
}

export function energySeparation(eIn: ArrayLike<number>, eOut: ArrayLike<number>, tpr: number): EnergySeparation | null {
  if (eIn.length === 0 || eOut.length === 0) return null;
  const a = moments(eIn), b = moments(eOut);
  const gamma = thresholdAtTpr(Float64Array.from(eIn, (e) => -e), tpr);
  let rejected = 0;
  for (let i = 0; i < eOut.length; i++) if (-eOut[i] < gamma) rejected++;
  return { inMean: a.mean, inStd: a.std, outMean: b.mean, outStd: b.std, gamma, outliersRejected: rejected / eOut.length };
}

/** Mean and 1/n standard deviation (the spread the Divergence stage's Gaussian fit uses). */
function moments(x: ArrayLike<number>): { mean: number; std: number } {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / x.length) };
}
