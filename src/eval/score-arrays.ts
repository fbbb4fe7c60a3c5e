import type { ScoreArrays } from '../run/types.js';
import type { EvaluationResult, ScoreName } from './evaluate.js';

/**
 * One score's raw values as artifacts/scores.json stores them: the report's histograms and the
 * exported page's ID-validation histogram read them, so they must be the deployed score's.
 */
export function scoreArraysOf(e: EvaluationResult, name: ScoreName): ScoreArrays {
  const s = e.scores[name];
  return { score: name, id: Array.from(s.id), val: Array.from(s.val), ood: Object.fromEntries(s.ood.map((o) => [o.name, Array.from(o.scores)])) };
}
