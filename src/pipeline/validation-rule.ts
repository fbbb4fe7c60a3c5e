/**
 * The selection rule of docs/validation-protocol.md as code, so the defaults follow from the
 * numbers mechanically: it reads validation numbers only (validation-OOD FPR95 against the ID
 * validation split, final-epoch ID validation accuracy, final-epoch inlier/outlier energies) and
 * never a test number.
 *
 *   1. Guards: out if the mean final val accuracy is > `accSlack` below the best candidate's, or
 *      if in any seed the final mean outlier energy is not above the mean inlier energy.
 *   2. Lowest mean validation FPR95 (per seed the mean over the validation OOD sets, then the
 *      mean over seeds) wins,
 *   3. unless a simpler candidate is within `tie` of it: candidates come in simplicity order and
 *      the first one within `tie` of the lowest wins.
 */

export interface CandidateSeed {
  seed: number;
  /** FPR95 (fraction) on each validation OOD set, energy score. */
  valFpr: number[];
  /** Final-epoch ID validation accuracy (fraction). */
  valAccuracy: number;
  /** Final-epoch mean inlier / virtual-outlier energy; null where the method makes no outliers. */
  inMean: number | null;
  outMean: number | null;
}

export interface Candidate { label: string; seeds: CandidateSeed[] }

export interface RuleOptions {
  /** Accuracy guard, in fraction (0.01 = 1 point). */
  accSlack: number;
  /** Tie width on mean FPR95, in fraction (0.005 = 0.5 points). */
  tie: number;
}

export const PROTOCOL: RuleOptions = { accSlack: 0.01, tie: 0.005 };

export interface Verdict {
  label: string;
  meanValFpr: number;
  meanValAccuracy: number;
  /** Seeds whose final outlier energy is not above the inlier energy. */
  wrongOrderSeeds: number[];
  /** Why the candidate is out, or null. */
  excluded: string | null;
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

/** Per-candidate numbers and guards, in the given (simplicity) order, and the winner's label. */
export function applyValidationRule(candidates: Candidate[], opts: RuleOptions = PROTOCOL): { rows: Verdict[]; winner: string | null } {
  for (const c of candidates) {
    if (c.seeds.length === 0) throw new Error(`candidate "${c.label}" has no finished seed`);
  }
  const base = candidates.map((c) => ({
    label: c.label,
    meanValFpr: mean(c.seeds.map((s) => mean(s.valFpr))),
    meanValAccuracy: mean(c.seeds.map((s) => s.valAccuracy)),
    wrongOrderSeeds: c.seeds.filter((s) => s.inMean === null || s.outMean === null || !(s.outMean > s.inMean)).map((s) => s.seed),
  }));
  const bestAcc = Math.max(...base.map((b) => b.meanValAccuracy));
  const rows: Verdict[] = base.map((b) => ({
    ...b,
    excluded: b.meanValAccuracy < bestAcc - opts.accSlack - 1e-12
      ? `val accuracy ${(100 * b.meanValAccuracy).toFixed(2)}% is more than ${100 * opts.accSlack} pt below the best (${(100 * bestAcc).toFixed(2)}%)`
      : b.wrongOrderSeeds.length > 0 ? `outlier energy not above inlier energy in seed ${b.wrongOrderSeeds.join(', ')}` : null,
  }));
  const eligible = rows.filter((r) => r.excluded === null);
  if (eligible.length === 0) return { rows, winner: null };
  const lowest = Math.min(...eligible.map((r) => r.meanValFpr));
  // The first eligible candidate in simplicity order within the tie band of the lowest.
  const winner = eligible.find((r) => r.meanValFpr <= lowest + opts.tie + 1e-12)!.label;
  return { rows, winner };
}
