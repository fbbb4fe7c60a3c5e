import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { fit } from '../../src/fit/index.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';
import { tempDir } from '../run/helpers.js';

/**
 * A model ares itself saved (a run folder's model/): fit reads it as inputs → [logits, features]
 * and takes the normalisation and class names from the run's detector.json, so it reproduces the
 * run's own ID test accuracy on the same data exactly. Read with [0, 1] pixels instead, the
 * accuracy collapses and fit says so.
 */
const { dir, cleanup } = tempDir('fit-ares-run');
afterAll(cleanup);
let run: TinyRun;

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  run = await buildTinyRun(join(dir, 'run'), { epochs: 2, limit: 1200 });
}, 60_000);

describe('ares fit on a model from an ares run folder', () => {
  it('uses the run\'s normalisation and class names and reproduces its accuracy', async () => {
    const det = await fit(join(run.dir, 'model', 'model.json'), 'mnist', { idClasses: [0, 1, 2, 3, 4, 5], limit: 1200, seed: 0, scores: ['energy', 'mahalanobis'] });
    const s = det.summary;
    expect(s.normalizationSource).toMatch(/detector\.json/);
    expect(s.normalization).toEqual(run.detector.normalization);
    expect(s.classes).toMatchObject({ by: 'name', classNames: run.detector.classNames });
    expect(s.logits).toEqual({ kind: 'output', layer: 'head' });
    expect(s.metrics.idAccuracy).toBe(run.idAccuracy);
    expect(s.warnings).toEqual([]);
    det.dispose();
  }, 60_000);

  it('takes data the caller prepared (library use) and gives the same answer', async () => {
    const det = await fit(join(run.dir, 'model', 'model.json'), run.data);
    expect(det.summary.metrics.idAccuracy).toBe(run.idAccuracy);
    expect(det.summary.validationCount).toBe(run.data.val.count);
    expect(det.summary.metrics.rows.map((r) => r.ood)).toEqual(run.data.ood.map((o) => o.name));
    det.dispose();
  }, 60_000);

  it('warns when the input range makes the model guess', async () => {
    const det = await fit(join(run.dir, 'model'), 'mnist', { idClasses: [0, 1, 2, 3, 4, 5], limit: 1200, seed: 0, inputRange: [40, 41] });
    expect(det.summary.warnings.join(' ')).toMatch(/only \d+\.\d% of the ID test images right .*check the input range \(--input-range 40,41\)/);
    det.dispose();
  }, 60_000);
});
