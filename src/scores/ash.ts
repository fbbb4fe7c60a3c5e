/**
 * ASH, activation shaping, in its ASH-S form, the paper's best (Djurisic, Bozanic, Ashok & Liu,
 * ICLR 2023, "Extremely simple activation shaping for out-of-distribution detection"). Per sample,
 * on the penultimate features h (d values):
 *
 *   keep     the k = d − round(d·p/100) largest activations (p = 90: the top 10%), zero the rest
 *            (round half to even, numpy's round as OpenOOD uses; k is at least 1)
 *   s1 = Σ_i h_i (all activations),  s2 = Σ of the kept ones
 *   ĥ        = kept activations × exp(s1/s2), zero elsewhere
 *   score(x) = log Σ_k exp((ĥ·W + b)_k), the energy of the logits recomputed through the
 *              classifier's final linear layer (higher = more in-distribution)
 *
 * "ash" here is ASH-S (ASH-P and ASH-B, the paper's other variants, are not offered). As in
 * OpenOOD's ASH postprocessor it shapes the pooled penultimate features (the paper also shapes
 * earlier feature maps). Ties among equal activations keep the lower index, so the result is
 * deterministic. Nothing is learned from data: fit only takes the head (W, b), which the state
 * carries so detector.json scores alone; `percentile` travels with it.
 *
 * Features with negative values (a model without a final ReLU): used as they are, as OpenOOD does.
 * Whatever the signs, the top k average at least the whole row (s2/k ≥ s1/d), so when s2 > 0 the
 * factor is at most exp(d/k) (e^10 at p = 90) and never overflows. When s2 ≤ 0 (no positive mass
 * kept; an all-zero row gives 0/0) s1/s2 means nothing as a sharpening factor: the factor is 1.
 */
import { AresError, NotFittedError } from '../errors.js';
import { checkedFeatures, checkPercentile, headEnergy, headFromFitData, headFromJson, headMismatchWarning, headToJson, type HeadState } from './head.js';
import { type Detector, type LabelledOutputsIn, type OutputsIn, readMatrix } from './types.js';

export interface ShapingParams {
  /** p in (0, 100): the top (100 − p)% of each sample's activations are kept (ash) or define s2 (scale). */
  percentile?: number;
}

/** ASH's and SCALE's state: the percentile and the head the shaped features go through. */
export interface ShapingState {
  percentile: number;
  head: HeadState;
}

export const ASH_DEFAULT_PERCENTILE = 90;

/** Round half to even, as numpy's round. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v), diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** k = d − round(d·p/100), at least 1: how many activations ASH keeps (and SCALE sums as s2). */
export function keptCount(d: number, percentile: number): number {
  return Math.max(1, d - roundHalfEven((d * percentile) / 100));
}

/**
 * Indices of the k largest values of h (ties: lower index first), written to `idx` (length ≥ d),
 * which also serves as scratch. Returns their sum s2.
 */
export function topK(h: ArrayLike<number>, k: number, idx: Int32Array): number {
  const d = h.length;
  for (let i = 0; i < d; i++) idx[i] = i;
  // A full sort of d indices: d is a few thousand at most, and it keeps the tie rule obvious.
  const sorted = idx.subarray(0, d).sort((a, b) => (h[b] - h[a]) || (a - b));
  let s2 = 0;
  for (let j = 0; j < k; j++) s2 += h[sorted[j]];
  return s2;
}

/** exp(s1/s2), or 1 when s2 ≤ 0 (see the file comment). */
export function shapingFactor(s1: number, s2: number): number {
  return s2 > 0 ? Math.exp(s1 / s2) : 1;
}

export function ash(params: ShapingParams = {}): Detector<OutputsIn, LabelledOutputsIn, ShapingState> {
  return shapingDetector('ash', checkPercentile('ash', params.percentile ?? ASH_DEFAULT_PERCENTILE), ashScores);
}

/** The detector shell ASH and SCALE share: fit takes the head; score runs `scores`. */
export function shapingDetector(name: 'ash' | 'scale', percentile: number, scores: (s: ShapingState, o: OutputsIn) => Float64Array)
  : Detector<OutputsIn, LabelledOutputsIn, ShapingState> {
  let state: ShapingState | null = null;
  let warnings: string[] = [];
  return {
    name, params: { percentile }, requiresFit: true,
    get state() { return state; },
    get warnings() { return warnings; },
    fit(data) {
      const x = data.features ? readMatrix(data.features, `${name} features`) : null;
      const head = headFromFitData(name, data.head, x ? x.cols : null);
      const mismatch = x ? headMismatchWarning(name, head, x, readMatrix(data.logits, `${name} logits`)) : null;
      warnings = mismatch ? [mismatch] : [];
      state = { percentile, head };
      return this;
    },
    restore(s) {
      state = s;
      warnings = [];
      return this;
    },
    score(input) {
      if (!state) throw new NotFittedError(name);
      if (!input.features) throw new AresError(`${name} scores penultimate features; the outputs have none`);
      return scores(state, input);
    },
  };
}

/** ASH-S energy per row. */
export function ashScores(s: ShapingState, input: OutputsIn): Float64Array {
  if (!input.features) throw new AresError('ash scores penultimate features; the outputs have none');
  const x = checkedFeatures('ash', s.head, readMatrix(input.features, 'ash features'));
  const d = x.cols, k = keptCount(d, s.percentile);
  const idx = new Int32Array(d), shaped = new Float64Array(d), z = new Float64Array(s.head.classes);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    const h = x.data.subarray(r * d, (r + 1) * d);
    let s1 = 0;
    for (let i = 0; i < d; i++) s1 += h[i];
    const s2 = topK(h, k, idx);
    const factor = shapingFactor(s1, s2);
    shaped.fill(0);
    for (let j = 0; j < k; j++) shaped[idx[j]] = h[idx[j]] * factor;
    out[r] = headEnergy(s.head, shaped, z);
  }
  return out;
}

export function shapingStateToJson(s: ShapingState): Record<string, unknown> {
  return { percentile: s.percentile, head: headToJson(s.head) };
}

export function shapingStateFromJson(name: 'ash' | 'scale', json: unknown, file?: string): ShapingState {
  const o = json as Record<string, unknown> | null;
  try {
    return { percentile: checkPercentile(`${name} state`, Number(o?.percentile)), head: headFromJson(o?.head, `${name} state`) };
  } catch (err) {
    const msg = (err as Error).message.replace(new RegExp(`^${name} state: `), '');
    throw new AresError(`${name} state: ${msg}`, { file });
  }
}
