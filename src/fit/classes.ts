/**
 * Which ID class is which model output. A model knows its classes only by position; the names come
 * from Teachable Machine's metadata.json (or an ares run's detector.json) when there is one. The ID
 * source's classes are matched to the outputs by name when the model has names (unless asked to
 * match by index), else by index.
 *
 * The ID data may cover only some of the outputs: users often have images for a few of a model's
 * classes. Outputs without images are "unseen": fit leaves them in the model and the detector
 * answers them as their class (or as "unknown", with --unseen-classes unknown).
 */
import { AresError } from '../errors.js';

export type MatchBy = 'name' | 'index';

/** How the ID images got their labels: class folders / label files, or the model's own top class (unlabelled folder). */
export type LabelSource = MatchBy | 'model-predictions';

export interface ClassMatch {
  by: LabelSource;
  /** order[k] = the source class (index into the source's class list) that model output k means; −1 when no source class does. */
  order: number[];
  /** outputOf[s] = the model output that source class s is. */
  outputOf: number[];
  /** Names of the model's outputs, in output order. */
  classNames: string[];
  /** Outputs no ID image is labelled with, ascending. */
  unseen: number[];
}

const norm = (s: string) => s.trim().toLowerCase();

/** "3" → 3; anything but a plain non-negative integer → −1 (so "03" or "3.0" do not count as indices). */
function asIndex(name: string): number {
  return /^(0|[1-9]\d*)$/.test(name.trim()) ? Number(name.trim()) : -1;
}

function fromOutputOf(by: LabelSource, outputOf: number[], numOutputs: number, classNames: string[]): ClassMatch {
  const order = new Array<number>(numOutputs).fill(-1);
  outputOf.forEach((k, s) => { order[k] = s; });
  return { by, order, outputOf, classNames, unseen: order.flatMap((s, k) => (s < 0 ? [k] : [])) };
}

/** Default names for a model without labels: the output indices. */
const indexNames = (n: number) => Array.from({ length: n }, (_, k) => String(k));

export function matchClasses(sourceNames: string[], numOutputs: number, modelLabels: string[] | null, by: MatchBy | undefined, where: string): ClassMatch {
  if (modelLabels && modelLabels.length !== numOutputs) {
    throw new AresError(`metadata.json lists ${modelLabels.length} labels but the model has ${numOutputs} outputs`, { file: where, exitCode: 2 });
  }
  if (sourceNames.length > numOutputs) {
    throw new AresError(`the ID data has ${sourceNames.length} classes (${sourceNames.join(', ')}) but the model has ${numOutputs} outputs; `
      + `keep at most ${numOutputs} of them with --id-classes`, { exitCode: 2 });
  }
  const method: MatchBy = by ?? (modelLabels ? 'name' : 'index');
  if (method === 'index') return matchByIndex(sourceNames, numOutputs, modelLabels);
  if (!modelLabels) throw new AresError('--match name needs class names for the model\'s outputs (metadata.json "labels"); none found', { file: where, exitCode: 2 });
  const outputOf = sourceNames.map((name) => {
    const k = modelLabels.indexOf(name);
    if (k >= 0) return k;
    const hits = modelLabels.map((l, j) => (norm(l) === norm(name) ? j : -1)).filter((j) => j >= 0);
    return hits.length === 1 ? hits[0] : -1;
  });
  const unmatched = sourceNames.filter((_, s) => outputOf[s] < 0);
  if (unmatched.length > 0) {
    // With a class per output, a label no class names is the likelier typo; with a subset it is just unseen.
    const unnamed = sourceNames.length === numOutputs ? modelLabels.filter((_, k) => !outputOf.includes(k)) : [];
    const quote = (v: string[]) => v.map((m) => `"${m}"`).join(', ');
    throw new AresError(`the ID classes (${sourceNames.join(', ')}) do not all name one of the model's labels (${modelLabels.join(', ')}): `
      + `no label matches ${quote(unmatched)}${unnamed.length ? `; no ID class named ${quote(unnamed)}` : ''}; `
      + 'rename the class folders, or pass --match index to pair them by output index', { exitCode: 2 });
  }
  if (new Set(outputOf).size !== outputOf.length) {
    throw new AresError(`two ID classes (${sourceNames.join(', ')}) name the same model label; rename the class folders`, { exitCode: 2 });
  }
  return fromOutputOf('name', outputOf, numOutputs, [...modelLabels]);
}

/**
 * By index: class folders named by output index ("0", "3") are that output, so a subset can skip
 * outputs and "10" is not sorted before "2". Otherwise, with as many classes as outputs, the
 * classes pair with the outputs in their (sorted) order, as before subsets existed.
 */
function matchByIndex(sourceNames: string[], numOutputs: number, modelLabels: string[] | null): ClassMatch {
  const names = modelLabels ? [...modelLabels] : null;
  const numbers = sourceNames.map(asIndex);
  if (numbers.every((k) => k >= 0 && k < numOutputs) && new Set(numbers).size === numbers.length) {
    // Without labels, a class keeps its own name where it has one; unseen outputs are named by index.
    const classNames = names ?? indexNames(numOutputs);
    return fromOutputOf('index', numbers, numOutputs, classNames);
  }
  if (sourceNames.length === numOutputs) return fromOutputOf('index', sourceNames.map((_, s) => s), numOutputs, names ?? [...sourceNames]);
  throw new AresError(`the ID data has ${sourceNames.length} classes (${sourceNames.join(', ')}) for the model's ${numOutputs} outputs: `
    + `to give images for only some outputs, name each class folder by its output index (0..${numOutputs - 1})`
    + `${modelLabels ? ` or by the model's label (${modelLabels.join(', ')}) with --match name` : ''}`, { exitCode: 2 });
}

/**
 * For an unlabelled ID folder: the labels are the model's own top classes, already output indices
 * (outputOf is the identity); the outputs it never chose are unseen.
 */
export function matchPredictions(predicted: ArrayLike<number>, numOutputs: number, modelLabels: string[] | null): ClassMatch {
  const chosen = new Set(Array.from(predicted));
  const all = Array.from({ length: numOutputs }, (_, k) => k);
  return {
    by: 'model-predictions', order: all.map((k) => (chosen.has(k) ? k : -1)), outputOf: all,
    classNames: modelLabels ? [...modelLabels] : indexNames(numOutputs), unseen: all.filter((k) => !chosen.has(k)),
  };
}
