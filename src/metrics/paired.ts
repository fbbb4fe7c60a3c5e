/**
 * Paired differences over seeds with a Student-t confidence interval: for methods A and B trained
 * on the same seeds (same data order, same initialisation), d_s = A_s − B_s and
 *   CI = mean(d) ± t_{1−α/2, n−1} · sd(d) / √n.
 * Pairing removes the seed-to-seed spread the two methods share, which is as large as the effects.
 */

/** t_{0.975, df} for df = 1..30 (two-sided 95%). */
const T975 = [
  12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
  2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
  2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
];
const Z975 = 1.959963984540054;

/** The 0.975 quantile of Student's t with `df` degrees of freedom (table to 30, Cornish–Fisher beyond: error < 1e-4). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  const z = Z975;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

export interface PairedDifference {
  /** Number of seeds both sides have. */
  n: number;
  mean: number;
  /** 95% t-interval; NaN bounds with fewer than 2 pairs. */
  lo: number;
  hi: number;
}

/** Mean and 95% CI of a − b over the keys (seeds) both maps hold. */
export function pairedDifference(a: Map<number, number>, b: Map<number, number>): PairedDifference {
  const d = [...a.keys()].filter((k) => b.has(k)).sort((x, y) => x - y).map((k) => a.get(k)! - b.get(k)!);
  const n = d.length;
  if (n === 0) return { n, mean: NaN, lo: NaN, hi: NaN };
  const mean = d.reduce((s, v) => s + v, 0) / n;
  if (n < 2) return { n, mean, lo: NaN, hi: NaN };
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const half = tQuantile975(n - 1) * sd / Math.sqrt(n);
  return { n, mean, lo: mean - half, hi: mean + half };
}

/**
 * Which side the interval excludes 0 on: 'better' / 'worse' for a metric where `higherIsBetter`
 * says which way is good, 'no difference shown' otherwise (including n < 2).
 */
export function verdict(p: PairedDifference, higherIsBetter: boolean): 'better' | 'worse' | 'no difference shown' {
  if (!(p.n >= 2) || !Number.isFinite(p.lo)) return 'no difference shown';
  if (p.lo > 0) return higherIsBetter ? 'better' : 'worse';
  if (p.hi < 0) return higherIsBetter ? 'worse' : 'better';
  return 'no difference shown';
}
