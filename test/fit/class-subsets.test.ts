import { describe, expect, it } from 'vitest';
import { matchClasses, matchPredictions } from '../../src/fit/classes.js';
import { accuracyWarningLevel } from '../../src/fit/fit.js';
import { parseDetectorSpec, type DetectorSpec } from '../../src/run/detector.js';
import { applyLabelMap } from '../../src/data/prepare.js';
import { seenClassLabels } from '../../src/scores/mahalanobis.js';
import type { ImageSet } from '../../src/data/types.js';

/** Pure parts of fitting on a subset of a model's classes: matching, labels, the warning level, the spec field. */
describe('matching ID classes to some of the model\'s outputs', () => {
  it('by label: any subset, in any order, case-insensitive; the other outputs are unseen', () => {
    const m = matchClasses(['Owl', 'dog'], 5, ['cat', 'dog', 'fox', 'owl', 'yak'], undefined, 'm');
    expect(m).toMatchObject({ by: 'name', outputOf: [3, 1], order: [-1, 1, -1, 0, -1], unseen: [0, 2, 4], classNames: ['cat', 'dog', 'fox', 'owl', 'yak'] });
  });

  it('by index: folders named by output index, sorted as numbers (10 after 2); a full set of other names pairs by position', () => {
    expect(matchClasses(['1', '3'], 5, null, undefined, 'm')).toMatchObject({ by: 'index', outputOf: [1, 3], unseen: [0, 2, 4], classNames: ['0', '1', '2', '3', '4'] });
    const names = Array.from({ length: 12 }, (_, k) => String(k)).sort();
    expect(names.slice(0, 4)).toEqual(['0', '1', '10', '11']);
    expect(matchClasses(names, 12, null, undefined, 'm').outputOf.slice(0, 4)).toEqual([0, 1, 10, 11]);
    expect(matchClasses(['cat', 'dog'], 2, null, undefined, 'm')).toMatchObject({ outputOf: [0, 1], unseen: [], classNames: ['cat', 'dog'] });
    expect(matchClasses(['1', '3'], 5, ['a', 'b', 'c', 'd', 'e'], 'index', 'm')).toMatchObject({ outputOf: [1, 3], classNames: ['a', 'b', 'c', 'd', 'e'] });
  });

  it('says what does not fit', () => {
    expect(() => matchClasses(['a', 'b', 'c'], 2, null, undefined, 'm')).toThrow(/3 classes .* 2 outputs; keep at most 2 of them with --id-classes/);
    expect(() => matchClasses(['cat', 'dog'], 5, null, undefined, 'm')).toThrow(/name each class folder by its output index \(0\.\.4\)/);
    expect(() => matchClasses(['1', '7'], 5, null, undefined, 'm')).toThrow(/output index/);
    expect(() => matchClasses(['dog', 'emu'], 5, ['cat', 'dog', 'fox', 'owl', 'yak'], undefined, 'm')).toThrow(/no label matches "emu"; rename/);
    expect(() => matchClasses(['dog', 'emu'], 5, ['cat', 'dog', 'fox', 'owl', 'yak'], undefined, 'm')).not.toThrow(/no ID class named/);
  });

  it('unlabelled data: the outputs the model chose are seen, labels stay output indices', () => {
    expect(matchPredictions([2, 0, 2, 2], 4, null)).toMatchObject({ by: 'model-predictions', outputOf: [0, 1, 2, 3], order: [0, -1, 2, -1], unseen: [1, 3], classNames: ['0', '1', '2', '3'] });
  });
});

describe('the accuracy warning level', () => {
  const balanced = (k: number, per: number) => Array.from({ length: k * per }, (_, i) => i % k);
  it('is a quarter of the way from chance to 100%, chance being 1/K or the largest class share', () => {
    expect(accuracyWarningLevel(balanced(2, 10), 2)).toEqual({ chance: 0.5, level: 0.625 });
    expect(accuracyWarningLevel(balanced(10, 10), 10).level).toBeCloseTo(0.325, 12);
    // Two balanced classes of a 5-output model: answering one class is right half the time.
    expect(accuracyWarningLevel(balanced(2, 10), 5)).toEqual({ chance: 0.5, level: 0.625 });
    expect(accuracyWarningLevel([0, 0, 0, 1], 2).chance).toBe(0.75);
    // One class of images: its share is 100% whatever the model does, so chance is 1/K.
    expect(accuracyWarningLevel([3, 3, 3], 4)).toEqual({ chance: 0.25, level: 0.4375 });
  });
});

describe('relabelling and the class-conditional fit', () => {
  const set = (labels: number[], classNames?: string[]): ImageSet => ({
    name: 's', shape: [1, 1, 1], count: labels.length, images: new Float32Array(labels.length), labels: Int32Array.from(labels), ...(classNames ? { classNames } : {}),
  });

  it('applyLabelMap gives source classes their outputs and refuses a map that does not fit', () => {
    const out = applyLabelMap(set([0, 1, 1], ['dog', 'owl']), { labels: [1, 3], classNames: ['cat', 'dog', 'fox', 'owl'] }, 'src');
    expect(Array.from(out.labels!)).toEqual([1, 3, 3]);
    expect(out.classNames).toEqual(['cat', 'dog', 'fox', 'owl']);
    expect(() => applyLabelMap(set([0, 1], ['dog', 'owl']), { labels: [1, 1], classNames: ['a', 'b'] }, 'src')).toThrow(/distinct classes/);
    expect(() => applyLabelMap(set([0, 1], ['dog', 'owl']), { labels: [1, 4], classNames: ['a', 'b', 'c', 'd'] }, 'src')).toThrow(/distinct classes/);
  });

  it('seenClassLabels renumbers over the classes that have rows', () => {
    expect(seenClassLabels([4, 1, 4, 1], 5)).toEqual({ labels: Int32Array.from([1, 0, 1, 0]), count: 2 });
  });
});

describe('detector.json unseenClasses', () => {
  const base = (): Record<string, unknown> => ({
    version: 1, classNames: ['a', 'b', 'c'], inputShape: [2, 2, 1], normalization: { mean: [0], std: [1] },
    score: { name: 'energy', weights: null }, threshold: { gamma: 0, tpr: 0.95, on: 'id-validation' },
  });
  it('round-trips and is checked', () => {
    const spec = parseDetectorSpec({ ...base(), unseenClasses: { classes: [0, 2], answer: 'unknown' } }, 'd.json') as DetectorSpec;
    expect(spec.unseenClasses).toEqual({ classes: [0, 2], answer: 'unknown' });
    expect(parseDetectorSpec(base(), 'd.json').unseenClasses).toBeUndefined();
    expect(() => parseDetectorSpec({ ...base(), unseenClasses: { classes: [0, 2], answer: 'maybe' } }, 'd.json')).toThrow(/answer must be known or unknown/);
    expect(() => parseDetectorSpec({ ...base(), unseenClasses: { classes: [0, 1, 2], answer: 'known' } }, 'd.json')).toThrow(/some but not all/);
    expect(() => parseDetectorSpec({ ...base(), unseenClasses: { classes: [3], answer: 'known' } }, 'd.json')).toThrow(/some but not all/);
    expect(() => parseDetectorSpec({ ...base(), unseenClasses: { classes: [2, 0], answer: 'known' } }, 'd.json')).toThrow(/ascending/);
  });
});
