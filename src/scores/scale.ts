/**
 * SCALE (Xu, Lian, Wang & Yang, ICLR 2024, "Scaling for training-time and post-hoc
 * out-of-distribution detection enhancement"): ASH-S's scaling without its pruning. Per sample, on
 * the penultimate features h (d values):
 *
 *   k        = d − round(d·p/100) (p = 85, the paper's ImageNet setting; round half to even, k ≥ 1)
 *   s1 = Σ_i h_i (all activations),  s2 = Σ of the k largest
 *   ĥ        = h × exp(s1/s2)   (every activation scaled, none zeroed)
 *   score(x) = log Σ_k exp((ĥ·W + b)_k)   (energy through the final linear layer; higher = more ID)
 *
 * As OpenOOD's SCALE postprocessor, on the pooled penultimate features. Shares ASH's top-k, guards
 * and detector shell (src/scores/ash.ts): features with negative values are used as they are, the
 * factor is at most exp(d/k) and 1 when s2 ≤ 0. Nothing is learned from data: fit takes the head
 * (W, b), which the state carries.
 */
import { AresError } from '../errors.js';
import { keptCount, shapingDetector, shapingFactor, topK, type ShapingParams, type ShapingState } from './ash.js';
import { checkedFeatures, checkPercentile, headEnergy } from './head.js';
import { type Detector, type LabelledOutputsIn, type OutputsIn, readMatrix } from './types.js';

export const SCALE_DEFAULT_PERCENTILE = 85;

export function scale(params: ShapingParams = {}): Detector<OutputsIn, LabelledOutputsIn, ShapingState> {
  return shapingDetector('scale', checkPercentile('scale', params.percentile ?? SCALE_DEFAULT_PERCENTILE), scaleScores);
}

/** SCALE energy per row. */
export function scaleScores(s: ShapingState, input: OutputsIn): Float64Array {
  if (!input.features) throw new AresError('scale scores penultimate features; the outputs have none');
  const x = checkedFeatures('scale', s.head, readMatrix(input.features, 'scale features'));
  const d = x.cols, k = keptCount(d, s.percentile);
  const idx = new Int32Array(d), scaled = new Float64Array(d), z = new Float64Array(s.head.classes);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    const h = x.data.subarray(r * d, (r + 1) * d);
    let s1 = 0;
    for (let i = 0; i < d; i++) s1 += h[i];
    const factor = shapingFactor(s1, topK(h, k, idx));
    for (let i = 0; i < d; i++) scaled[i] = h[i] * factor;
    out[r] = headEnergy(s.head, scaled, z);
  }
  return out;
}
