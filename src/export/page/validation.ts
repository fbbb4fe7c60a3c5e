/**
 * The histogram for the page, from the run folder: training stores the ID-validation scores γ was
 * set on in artifacts/scores.json (`val`), so export only bins them — no data set is reloaded and
 * nothing is re-scored. A run written before those scores were stored, or whose stored scores do
 * not reproduce its γ (a different score, a hand-edited threshold), gets no histogram and a note
 * saying why, rather than a picture that disagrees with the answers.
 */
import { thresholdAtTpr } from '../../metrics/index.js';
import { readScoreArrays } from '../../run/artifacts.js';
import type { RunFolder } from '../../run/folder.js';
import { buildScoreHistogram, type ScoreHistogram } from './histogram.js';

export interface RunHistogram {
  histogram: ScoreHistogram | null;
  /** Why there is none (for the CLI and the page). */
  note?: string;
}

export function validationHistogram(run: Pick<RunFolder, 'detector' | 'paths'>): RunHistogram {
  const none = (why: string): RunHistogram => ({ histogram: null, note: `the page shows no ID-validation score histogram: ${why}` });
  const scores = readScoreArrays(run.paths.artifacts);
  const { score } = run.detector;
  const { gamma, tpr } = run.detector.threshold;
  if (!scores?.val?.length) return none('the run folder stores no validation scores (artifacts/scores.json has no "val"; runs trained before they were stored)');
  if (scores.score !== score.name) return none(`the stored validation scores are ${scores.score} scores, the detector uses ${score.name}`);
  const reproduced = thresholdAtTpr(scores.val, tpr);
  if (Math.abs(reproduced - gamma) > 1e-9 * Math.max(1, Math.abs(gamma))) {
    return none(`the stored validation scores give γ = ${reproduced} at TPR ${tpr}, the detector says ${gamma}`);
  }
  return { histogram: buildScoreHistogram(scores.val, { score: score.name, gamma, tpr }) };
}
