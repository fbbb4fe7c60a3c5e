import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { conformSet, prepareDataset, type PreparedDataset } from '../../src/data/index.js';
import { fit } from '../../src/fit/index.js';
import { encodePng } from '../../src/run/images.js';
import { runCli, tempDir, writeProbeImages, expectAresError, predictShares } from '../run/helpers.js';
import { saveLikeTfjsNode, teachableMachineLike, trainPlain } from './plain-model.js';

/**
 * A fixture laid out like a Teachable Machine image export: model.json + weights.bin +
 * metadata.json whose `labels` name the outputs, a base network and a head as nested Sequential
 * models, RGB input in [-1, 1]. Its labels are in another order than the ID data's classes, so only
 * matching by name gives right answers. (TM's real base is MobileNet at 224×224; the fixture keeps
 * the layout at 48×48 so it trains in seconds.)
 */
const { dir, cleanup } = tempDir('fit-tm');
afterAll(cleanup);
const tmDir = join(dir, 'tm-export');
const runDir = join(dir, 'run');
const SIZE = 48;
const LABELS = ['3', '5', '0', '4', '1', '2'];
let data: PreparedDataset;

beforeAll(async () => {
  await initEngine();
  data = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], limit: 2000, seed: 8 });
  const rgb = conformSet(data.train, [SIZE, SIZE, 3]);
  const x = rgb.images.map((v) => 2 * v - 1);
  const y = data.train.labels!.map((c) => LABELS.indexOf(data.classNames[c]));
  const model = teachableMachineLike([SIZE, SIZE, 3], LABELS.length, 2);
  await trainPlain(model, x, y, [SIZE, SIZE, 3], LABELS.length, 4);
  await saveLikeTfjsNode(model, tmDir);
  model.dispose();
  writeFileSync(join(tmDir, 'metadata.json'), JSON.stringify({
    tfjsVersion: '4.22.0', tmVersion: '2.4.10', packageVersion: '0.8.4', packageName: '@teachablemachine/image',
    timeStamp: '2026-01-01T00:00:00.000Z', userMetadata: {}, modelName: 'tm-my-image-model', labels: LABELS, imageSize: SIZE,
  }));
}, 60_000);

describe('ares fit on a Teachable Machine export', () => {
  it('takes labels and the [-1, 1] input from the export; predict answers unknown for noise, the right label for digits', async () => {
    const r = runCli(['fit', '--model', tmDir, '--id', 'mnist', '--id-classes', '0,1,2,3,4,5', '--limit', '2000', '--seed', '8', '--out', runDir, '--json'], {}, 60_000);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.classNames).toEqual(LABELS);
    expect(out.classMatch).toBe('name');
    expect(out.inputShape).toEqual([SIZE, SIZE, 3]);
    expect(out.normalization).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(out.normalizationSource).toMatch(/Teachable Machine/);
    expect(out.featureDim).toBe(100);
    expect(out.metrics.idAccuracy).toBeGreaterThan(0.85);

    const truth = await writeProbeImages(data.test, data.classNames, join(dir, 'digits'), join(dir, 'noise'), { noiseSeed: 77 });
    const { unknownShare, rightShare } = predictShares(runDir, join(dir, 'digits'), join(dir, 'noise'), truth, 'ares fit (Teachable Machine layout)');
    expect(unknownShare).toBeGreaterThanOrEqual(0.9);
    expect(rightShare).toBeGreaterThanOrEqual(0.8);
    // eval re-prepares the data in the model's label order (the run's config records it).
    const e = runCli(['eval', '--run', runDir, '--json'], {}, 60_000);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).idAccuracy).toBeCloseTo(out.metrics.idAccuracy, 6);
  }, 90_000);

  it('the README path: ID data as an image folder whose class folders are named like the labels', async () => {
    // Class folders sort as 0..5, the model's labels are in another order: every class is kept, only reordered.
    const photos = join(dir, 'photos');
    const per = new Map<number, number>();
    for (let i = 0; i < data.test.count; i++) {
      const y = data.test.labels![i];
      if ((per.get(y) ?? 0) >= 40) continue;
      per.set(y, (per.get(y) ?? 0) + 1);
      mkdirSync(join(photos, data.classNames[y]), { recursive: true });
      writeFileSync(join(photos, data.classNames[y], `${i}.png`), await encodePng(data.test, i));
    }
    const out = join(dir, 'run-folder-source');
    const r = runCli(['fit', '--model', join(tmDir, 'model.json'), '--id', photos, '--ood', 'uniform', '--out', out, '--json'], {}, 60_000);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ classNames: LABELS, classMatch: 'name' });
    expect(s.metrics.idAccuracy).toBeGreaterThan(0.8);
    const e = runCli(['eval', '--run', out, '--json'], {}, 60_000);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).idAccuracy).toBe(s.metrics.idAccuracy);
  }, 60_000);

  it('names the layers when --features is wrong, and refuses labels that match no class', async () => {
    await expectAresError(() => fit(tmDir, 'mnist', { idClasses: [0, 1, 2, 3, 4, 5], limit: 200, featuresLayer: 'nope' }), /--features "nope"/, /layers in order: .*dense/);
    const bad = JSON.parse(readFileSync(join(tmDir, 'metadata.json'), 'utf8'));
    writeFileSync(join(tmDir, 'metadata.json'), JSON.stringify({ ...bad, labels: ['cat', ...LABELS.slice(1)] }));
    await expectAresError(() => fit(tmDir, 'mnist', { idClasses: [0, 1, 2, 3, 4, 5], limit: 200 }), /no ID class named "cat"/, /--match index/);
    writeFileSync(join(tmDir, 'metadata.json'), JSON.stringify(bad));
  }, 30_000);
});
