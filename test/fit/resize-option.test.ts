import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../../src/data/image-decode.js';
import { initEngine } from '../../src/engine/backend.js';
import { fit } from '../../src/fit/fit.js';
import { detectorSpecOf } from '../../src/pipeline/run-folder.js';
import { prepareForConfig, resolveConfig, type TrainRunResult } from '../../src/pipeline/train-run.js';
import { buildTinyModel } from '../fixtures/tiny-model.js';
import { expectAresError, runCli, tempDir } from '../run/helpers.js';

/**
 * --resize on `ares fit` and `ares train`: the mode reaches the data pipeline (image folders of
 * another size than the model are fitted by it) and is recorded in detector.json, which predict,
 * eval and export follow. Small generated colour images keep it to seconds.
 */
const { dir, cleanup } = tempDir('resize-option');
afterAll(cleanup);
const idDir = join(dir, 'id');
const oodDir = join(dir, 'ood');
const SHAPE: [number, number, number] = [16, 24, 3];

/** Colour image w×h whose content depends on (seed, x, y): stripes in one class, rings in the other. */
function picture(w: number, h: number, seed: number, rings: boolean): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = rings ? Math.hypot(x - w / 2, y - h / 2) : x + 0.3 * y;
    const at = (y * w + x) * 3;
    px[at] = 128 + 120 * Math.sin(v / (2 + (seed % 3)));
    px[at + 1] = (x * 9 + seed * 17) % 256;
    px[at + 2] = (y * 11 + seed * 5) % 256;
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  for (const [name, rings] of [['stripes', false], ['rings', true]] as const) {
    mkdirSync(join(idDir, name), { recursive: true });
    for (let i = 0; i < 20; i++) await sharp(await picture(SHAPE[1], SHAPE[0], i, rings)).toFile(join(idDir, name, `${i}.png`));
  }
  mkdirSync(oodDir, { recursive: true });
  // Square and twice as large: crop, stretch and pad give different 16×24 images.
  for (let i = 0; i < 4; i++) await sharp(await picture(40, 40, 100 + i, i % 2 === 0)).toFile(join(oodDir, `${i}.png`));
}, 60_000);

describe('--resize', () => {
  it('reaches the data pipeline: OOD folders of another size are fitted by the mode', async () => {
    const base = { id: idDir, ood: [oodDir], valOod: '', valFraction: 0.1, seed: 0 };
    const first = join(oodDir, '0.png');
    for (const resize of ['crop', 'stretch', 'pad'] as const) {
      const data = await prepareForConfig({ ...base, resize });
      const ood = data.ood[0];
      const i = ood.files!.indexOf(first);
      const got = ood.images.subarray(i * 16 * 24 * 3, (i + 1) * 16 * 24 * 3);
      expect(Array.from(got), resize).toEqual(Array.from(await decodeImage(first, SHAPE, resize)));
    }
    const crop = await decodeImage(first, SHAPE, 'crop');
    const pad = await decodeImage(first, SHAPE, 'pad');
    expect(Array.from(crop)).not.toEqual(Array.from(pad));
    // pad leaves black side margins on a square image in a wide frame; crop does not.
    expect(pad[0] + pad[1] + pad[2]).toBe(0);
    expect(crop[0] + crop[1] + crop[2]).toBeGreaterThan(0);
  }, 60_000);

  it('ares fit (library) records the mode in detector.json; default crop', async () => {
    for (const [resize, want, source] of [['pad', 'pad', '--resize'], [undefined, 'crop', 'default']] as const) {
      const out = join(dir, `fit-${want}`);
      const m = buildTinyModel(SHAPE, 2, 3, 8);
      const d = await fit(m.model, idDir, { resize, out, ood: [oodDir] });
      try {
        expect(d.summary.resize).toBe(want);
        expect(d.summary.resizeSource).toBe(source);
        expect(d.spec.resize).toBe(want);
        const saved = JSON.parse(readFileSync(join(out, 'detector.json'), 'utf8'));
        expect(saved).toMatchObject({ version: 2, resize: want });
        expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).resize).toBe(want);
        if (want === 'pad') {
          // eval reloads the data with the run's mode: the OOD folder's metrics come out the same.
          const e = runCli(['eval', '--run', out, '--json'], { ARES_THREADS: '1' });
          expect(e.code, e.stderr).toBe(0);
          const auroc = (rows: { ood: string; auroc: number }[]) => rows.find((r) => r.ood.includes('ood'))!.auroc;
          expect(auroc(JSON.parse(e.stdout).rows)).toBeCloseTo(auroc(d.summary.metrics.rows), 6);
        }
      } finally {
        d.dispose();
      }
    }
  }, 60_000);

  it('ares fit on a model from an ares run folder takes that run\'s mode unless --resize says otherwise', async () => {
    const model = join(dir, 'fit-pad', 'model', 'model.json');
    const again = await fit(model, idDir, {});
    try {
      expect(again.summary.resize).toBe('pad');
      expect(again.summary.resizeSource).toMatch(/detector\.json/);
    } finally {
      again.dispose();
    }
    const flagged = await fit(model, idDir, { resize: 'stretch' });
    try {
      expect(flagged.spec.resize).toBe('stretch');
    } finally {
      flagged.dispose();
    }
  }, 60_000);

  it('ares train: resolveConfig checks it, and the run\'s detector.json carries it (absent: crop)', async () => {
    expect(resolveConfig({ id: 'mnist', resize: 'stretch' }).resize).toBe('stretch');
    expect(resolveConfig({ id: 'mnist' }).resize).toBeUndefined();
    await expectAresError(() => resolveConfig({ id: 'mnist', resize: 'squash' as never }), '--resize must be one of crop, stretch, pad');
    const result = (resize?: 'pad') => ({
      config: resolveConfig({ id: 'mnist', resize }),
      data: { classNames: ['a', 'b'], shape: [4, 4, 1], normalization: { mean: [0.5], std: [0.25] } },
      trained: { energyWeights: null },
      evaluation: { thresholds: { energy: 1.5 }, tpr: 0.95 },
    }) as unknown as TrainRunResult;
    expect(detectorSpecOf(result('pad')).resize).toBe('pad');
    expect(detectorSpecOf(result()).resize).toBe('crop');
  });

  it('the CLI flags refuse other modes with a usage error', () => {
    for (const cmd of [['fit', '--model', 'm.json', '--id', 'mnist', '--out', join(dir, 'x')], ['train', '--id', 'mnist']]) {
      const r = runCli([...cmd, '--resize', 'squash'], { ARES_THREADS: '1' });
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/--resize <mode>.*squash.*crop, stretch, pad/s);
    }
  }, 60_000);
});
