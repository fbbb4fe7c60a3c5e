import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { prepareDataset } from '../../src/data/index.js';
import { fit } from '../../src/fit/index.js';
import { createDetector, loadDetector } from '../../src/export/index.js';
import type { ImageSet } from '../../src/data/types.js';
import { encodePng } from '../../src/run/images.js';
import { parseDetectorJson } from '../../src/run/detector.js';
import { runCli, tempDir } from '../run/helpers.js';
import { saveLikeTfjsNode, smallCnn, trainPlain } from './plain-model.js';

/**
 * Users often have images for only some of a model's classes, or no labels at all. A plain tfjs CNN
 * with 5 outputs is trained on generated 16×16 images (class k: a bright square in corner or centre
 * k on faint noise), saved as model.json; `ares fit` then gets folders of PNGs for 2 of its classes,
 * or one flat folder. A 2-output model checks the accuracy warning at K = 2.
 */
const { dir, cleanup } = tempDir('fit-subsets');
afterAll(cleanup);
const SHAPE: [number, number, number] = [16, 16, 3];
const LABELS = ['cat', 'dog', 'fox', 'owl', 'yak'];
const model5 = join(dir, 'model5');
const named5 = join(dir, 'model5-named');
const model2 = join(dir, 'model2');
/** Top-left corner of class k's square: four corners and the centre. */
const SPOTS = [[1, 1], [1, 9], [9, 1], [9, 9], [5, 5]];

function generated(classes: number[], perClass: number, seed: number): ImageSet {
  const per = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const count = classes.length * perClass;
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  let s = seed * 7919 + 1;
  const rand = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  for (let i = 0; i < count; i++) {
    const k = classes[i % classes.length];
    labels[i] = k;
    const [y0, x0] = SPOTS[k];
    const o = i * per;
    for (let j = 0; j < per; j++) images[o + j] = 0.2 * rand();
    for (let y = y0; y < y0 + 6; y++) for (let x = x0; x < x0 + 6; x++) for (let c = 0; c < 3; c++) images[o + (y * SHAPE[1] + x) * 3 + c] = 0.8 + 0.2 * rand();
  }
  return { name: 'generated', shape: SHAPE, count, images, labels, classNames: LABELS };
}

async function writePngs(set: ImageSet, folder: (k: number) => string, prefix: string): Promise<void> {
  for (let i = 0; i < set.count; i++) {
    const d = folder(set.labels![i]);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `${prefix}-${i}.png`), await encodePng(set, i));
  }
}

async function trainAndSave(classes: number[], outDir: string, seed: number): Promise<void> {
  const data = generated(classes, 60, seed);
  const y = data.labels!.map((k) => classes.indexOf(k));
  const model = smallCnn(SHAPE, classes.length, seed);
  await trainPlain(model, data.images, y, SHAPE, classes.length, 6);
  await saveLikeTfjsNode(model, outDir);
  model.dispose();
}

beforeAll(async () => {
  await initEngine();
  await trainAndSave([0, 1, 2, 3, 4], model5, 1);
  mkdirSync(named5);
  for (const f of ['model.json', 'weights.bin']) copyFileSync(join(model5, f), join(named5, f));
  writeFileSync(join(named5, 'metadata.json'), JSON.stringify({ labels: LABELS }));
  await trainAndSave([1, 3], model2, 2);
  // Images of classes 1 and 3 only, named by output index and by label; a flat folder of classes 0 and 2.
  const two = generated([1, 3], 50, 11);
  await writePngs(two, (k) => join(dir, 'by-index', String(k)), 'i');
  await writePngs(two, (k) => join(dir, 'by-label', LABELS[k]), 'l');
  await writePngs(generated([0, 2], 50, 12), () => join(dir, 'flat'), 'f');
  await writePngs(generated([0, 1, 2, 3, 4], 6, 13), (k) => join(dir, 'probe', LABELS[k]), 'p');
}, 120_000);

/** Probe images (6 per class, never used by any fit) as a tensor, with their classes. */
function probes(): { x: tf.Tensor4D; classes: number[] } {
  const set = generated([0, 1, 2, 3, 4], 6, 13);
  return { x: tf.tensor4d(set.images, [set.count, ...SHAPE]), classes: Array.from(set.labels!) };
}

describe('ares fit on a subset of the model\'s classes', () => {
  it('fits images of 2 of 5 classes at defaults: the others stay known, and the class-conditional scores use the seen classes', async () => {
    const out = join(dir, 'run-index');
    const det = await fit(model5, join(dir, 'by-index'), { scores: ['energy', 'mahalanobis', 'rmds'], ood: ['uniform'], out, limit: 500 });
    const s = det.summary;
    expect(s.classes).toMatchObject({ by: 'index', outputOf: [1, 3], unseen: [0, 2, 4] });
    expect(s.unseenClasses).toEqual({ classes: [0, 2, 4], answer: 'known' });
    expect(s.idAccuracy).toBeGreaterThan(0.9);
    expect(s.warnings).toEqual([]);
    // Mahalanobis and RMDS have one Gaussian per seen class, and they still separate noise.
    const spec = parseDetectorJson(readFileSync(join(out, 'detector.json'), 'utf8'), 'detector.json');
    expect(spec.unseenClasses).toEqual({ classes: [0, 2, 4], answer: 'known' });
    expect(s.evaluation.fitted.mahalanobis!.state).toMatchObject({ numClasses: 2 });
    for (const row of s.metrics.rows) expect(row.auroc, `${row.score} on ${row.ood}`).toBeGreaterThan(0.9);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ idLabels: 'data', labelMap: { labels: [1, 3], classNames: ['0', '1', '2', '3', '4'] } });

    // Known: an image the model gives an unseen class answers that class when the score accepts.
    const { x, classes } = probes();
    const known = await det.predict(x);
    const unknown = await createDetector(det.model, { ...spec, unseenClasses: { classes: [0, 2, 4], answer: 'unknown' } }).predict(x);
    x.dispose();
    let unseenAnswered = 0;
    known.forEach((p, i) => {
      const unseen = [0, 2, 4].includes(p.classIndex);
      expect(p.label).toBe(p.accepted ? String(p.classIndex) : 'unknown');
      expect(p.declaredUnknown).toBeUndefined();
      if (unseen && p.accepted) unseenAnswered++;
      // Unknown: the same image, same score, but a declared-unknown class answers "unknown".
      expect(unknown[i]).toMatchObject({ classIndex: p.classIndex, score: p.score, accepted: p.accepted });
      expect(unknown[i].label).toBe(unseen ? 'unknown' : p.label);
      expect(unknown[i].declaredUnknown).toBe(unseen ? true : undefined);
      if (!unseen && p.accepted) expect(p.classIndex).toBe(classes[i]);
    });
    expect(unseenAnswered).toBeGreaterThan(0);
    det.dispose();
  }, 120_000);

  it('unlabelled flat folder: labels are the model\'s predictions, accuracy is not reported, the run folder says so', async () => {
    const out = join(dir, 'run-flat');
    const det = await fit(model5, join(dir, 'flat'), { scores: ['energy', 'mahalanobis'], out });
    const s = det.summary;
    det.dispose();
    expect(s.classes.by).toBe('model-predictions');
    expect(s.idAccuracy).toBeNull();
    expect(s.warnings).toEqual([]);
    // The folder holds classes 0 and 2; the model recognises them, so the others were never chosen.
    expect(s.classes.unseen).toEqual([1, 3, 4]);
    expect(s.evaluation.fitted.mahalanobis!.state).toMatchObject({ numClasses: 2 });
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({ idAccuracy: null, idLabels: 'model-predictions' });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).idLabels).toBe('model-predictions');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/ID accuracy<b>–%/);
  }, 60_000);

  it('a 2-class model that is read right gives no warning; read with the wrong input range it does', async () => {
    const folder = join(dir, 'by-index-2');
    // Output 0 of model2 is class 1 of the generated data, output 1 is class 3.
    await writePngs(generated([1, 3], 40, 21), (k) => join(folder, String([1, 3].indexOf(k))), 'two');
    const good = await fit(model2, folder);
    expect(good.summary.idAccuracy).toBeGreaterThan(0.9);
    expect(good.summary.unseenClasses).toBeNull();
    expect(good.summary.warnings).toEqual([]);
    good.dispose();
    const misread = await fit(model2, folder, { inputRange: [40, 41] });
    expect(misread.summary.idAccuracy).toBeLessThan(0.625);
    expect(misread.summary.warnings.join(' ')).toMatch(/only \d+\.\d% of the ID test images right \(chance: 50\.0%\)/);
    misread.dispose();
  }, 60_000);

  it('--id-classes keeping every class is no longer refused (no held-out OOD set)', async () => {
    const d = await prepareDataset({ id: join(dir, 'by-index'), idClasses: [0, 1], seed: 0 });
    expect(d.ood).toEqual([]);
    expect(d.classNames).toEqual(['1', '3']);
  });
});

describe('ares fit / predict / export / eval through the CLI with unseen classes declared unknown', () => {
  it('labels matched by name; predict, the Node bundle and eval honour the run folder', async () => {
    const out = join(dir, 'run-cli');
    const env = { ARES_THREADS: '1' };
    const r = runCli(['fit', '--model', named5, '--id', join(dir, 'by-label'), '--unseen-classes', 'unknown', '--score', 'energy,rmds', '--out', out], env, 90_000);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/classes: {2}2 of 5 with ID images: dog, owl \(matched by name\)/);
    expect(r.stdout).toMatch(/unseen: {3}cat, fox, yak: no ID images, always answered "unknown" \(--unseen-classes unknown\)/);
    expect(r.stdout).toMatch(/ID accuracy: \d+\.\d% on \d+ ID test images\n/);
    expect(r.stdout).not.toMatch(/\(fit, fitted/);
    expect(JSON.parse(readFileSync(join(out, 'detector.json'), 'utf8')).unseenClasses).toEqual({ classes: [0, 2, 4], answer: 'unknown' });

    const p = runCli(['predict', '--run', out, '--json', join(dir, 'probe')], env);
    expect(p.code).toBe(0);
    const preds = JSON.parse(p.stdout).predictions as { file: string; label: string; classIndex: number; declaredUnknown?: boolean }[];
    const classOf = (f: string) => LABELS.find((l) => f.includes(`/${l}/`))!;
    const unseen = preds.filter((x) => ['cat', 'fox', 'yak'].includes(classOf(x.file)));
    const seen = preds.filter((x) => ['dog', 'owl'].includes(classOf(x.file)));
    expect(unseen.every((x) => x.label === 'unknown')).toBe(true);
    // Most unseen-class probes are answered unknown because of their class, not their score.
    expect(unseen.filter((x) => x.declaredUnknown).length).toBeGreaterThanOrEqual(unseen.length / 2);
    expect(seen.filter((x) => x.label === classOf(x.file)).length).toBeGreaterThanOrEqual(seen.length * 0.8);

    const x = runCli(['export', '--run', out, '--out', join(dir, 'bundle')], env);
    expect(x.code).toBe(0);
    const bundle = await loadDetector(join(dir, 'bundle'));
    const { x: input, classes } = probes();
    const answers = await bundle.predict(input);
    input.dispose(); bundle.dispose();
    answers.forEach((a, i) => { if ([0, 2, 4].includes(classes[i])) expect(a.label).toBe('unknown'); });
    expect(answers.filter((a) => a.declaredUnknown).length).toBeGreaterThan(0);

    // eval reloads the folder with the same labels (config.json's labelMap): the same accuracy.
    const e = runCli(['eval', '--run', out, '--json'], env, 90_000);
    expect(e.code).toBe(0);
    const fitted = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(JSON.parse(e.stdout).idAccuracy).toBe(fitted.idAccuracy);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 240_000);
});
