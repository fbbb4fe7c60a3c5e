/**
 * How `ares fit` labels the user's ID images with the model's outputs: classes matched to outputs
 * (any subset), an unlabelled folder labelled by the model's own predictions, the accuracy below
 * which the model is probably misread, and what outputs without images answer.
 */
import { applyLabelMap, type PreparedDataset } from '../data/prepare.js';
import type { ImageSet, Normalization } from '../data/types.js';
import { AresError } from '../errors.js';
import { forwardSetAsync } from '../eval/evaluate.js';
import { argmaxRows } from '../metrics/summary.js';
import type { Classifier } from '../models/types.js';
import type { DataConfig } from '../pipeline/train-run.js';
import { UNSEEN_CLASS_ANSWERS, type UnseenClassAnswer } from '../run/detector.js';
import { matchPredictions, type ClassMatch } from './classes.js';

/**
 * The ID data with the model's output indices as labels, and the data config that makes `ares eval`
 * reload the same labels (its labelMap; the identity needs none).
 */
export function alignClasses(data: PreparedDataset, match: ClassMatch, dataCfg: DataConfig): { data: PreparedDataset; dataCfg: DataConfig } {
  const names = match.classNames;
  const identity = match.outputOf.length === names.length && match.outputOf.every((k, s) => k === s);
  if (identity) return { data: { ...data, classNames: names }, dataCfg };
  const map = { labels: [...match.outputOf], classNames: [...names] };
  const relabel = (set: ImageSet) => applyLabelMap(set, map, dataCfg.id);
  return {
    data: { ...data, train: relabel(data.train), val: relabel(data.val), test: relabel(data.test), classNames: names },
    dataCfg: { ...dataCfg, labelMap: map },
  };
}

/** The model's top class for every image of `set`: the labels of an unlabelled ID folder. */
async function predictedLabels(classifier: Classifier, set: ImageSet, normalization: Normalization, batchSize: number): Promise<Int32Array> {
  return argmaxRows((await forwardSetAsync(classifier, set, normalization, batchSize)).logits.data, classifier.numClasses);
}

/** An unlabelled ID set labelled with the model's own predictions (accuracy is then not measured). */
export async function labelByModel(data: PreparedDataset, classifier: Classifier, modelLabels: string[] | null, batchSize: number): Promise<{ data: PreparedDataset; match: ClassMatch }> {
  const label = async (set: ImageSet) => ({ ...set, labels: await predictedLabels(classifier, set, data.normalization, batchSize) });
  const train = await label(data.train), val = await label(data.val), test = await label(data.test);
  const match = matchPredictions(train.labels, classifier.numClasses, modelLabels);
  const named = (set: ImageSet) => ({ ...set, classNames: match.classNames });
  return { data: { ...data, train: named(train), val: named(val), test: named(test), classNames: match.classNames }, match };
}

/**
 * The ID accuracy below which fit warns that the model is probably misread (wrong input range, or
 * classes paired with the wrong outputs). A misread model lands near chance: it spreads its answers
 * over the K outputs (≈ 1/K right) or collapses onto one class (right for that class's share of the
 * test images), so chance is the larger of 1/K and the largest class share. (With one class of
 * images the share is 100% whatever the model does, so 1/K alone.) "Clearly above" is a quarter of
 * the way from chance to 100%: K = 2 balanced → 62.5%, 2 balanced classes of 5 outputs → 62.5%,
 * K = 10 balanced → 32.5%. The old rule, twice chance, was 100% for K = 2 and warned on every
 * 2-class model.
 */
export function accuracyWarningLevel(testLabels: ArrayLike<number>, numOutputs: number): { chance: number; level: number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < testLabels.length; i++) counts.set(testLabels[i], (counts.get(testLabels[i]) ?? 0) + 1);
  const largestShare = testLabels.length > 0 ? Math.max(...counts.values()) / testLabels.length : 0;
  const chance = counts.size >= 2 ? Math.max(1 / numOutputs, largestShare) : 1 / numOutputs;
  return { chance, level: chance + (1 - chance) / 4 };
}

export function checkUnseenAnswer(v: string | undefined): UnseenClassAnswer {
  const answer = v ?? 'known';
  if (!(UNSEEN_CLASS_ANSWERS as readonly string[]).includes(answer)) {
    throw new AresError(`--unseen-classes must be ${UNSEEN_CLASS_ANSWERS.join(' or ')}, got "${answer}"`, { exitCode: 2 });
  }
  return answer as UnseenClassAnswer;
}
