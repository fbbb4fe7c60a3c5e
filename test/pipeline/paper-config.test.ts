import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBenchmarkConfig } from '../../src/pipeline/benchmark.js';
import { runCli, tempDir, ROOT } from '../data/helpers.js';
import { OOD_FOLDERS, writePaperDataRoot } from './paper-data.js';

const data = tempDir('paper');
const partial = tempDir('paper-partial');
afterAll(() => { data.cleanup(); partial.cleanup(); });
beforeAll(async () => {
  await writePaperDataRoot(data.dir, { train: 160, test: 40, ood: 16 });
  await writePaperDataRoot(partial.dir, { train: 20, test: 10, ood: 2, skip: ['cifar-10-batches-bin', 'svhn', 'places365'] });
});

const c10 = join(ROOT, 'configs/cifar10-paper.json');
const c100 = join(ROOT, 'configs/cifar100-paper.json');
/** Smoke-size overrides of the paper's settings; the datasets and the grid stay the config's. */
const SMOKE = ['--set', 'epochs=2', 'pretrainEpochs=1', 'model=cnn', 'batchSize=32', 'candidates=500', 'poolSize=500',
  'fractalBankSize=32', 'vosQueue=10', 'vosCandidates=200'];

describe('the paper configs (CIFAR-10/100, WRN-40-2, Table 1 OOD sets)', () => {
  it('hold the paper\'s settings, with the 40/100 and 80/200 schedules as presets', () => {
    for (const file of [c10, c100]) {
      const c = readBenchmarkConfig(file, { dataRoot: data.dir });
      expect(c.defaults).toMatchObject({ model: 'wrn40-2', epochs: 500, pretrainEpochs: 200, batchSize: 128, lr: 0.1, lrMin: 1e-6, beta: 0.1, augment: 'crop-flip' });
      expect(c.defaults.id).toBe(join(data.dir, file === c10 ? 'cifar-10-batches-bin' : 'cifar-100-binary'));
      expect(c.defaults.ood).toEqual(OOD_FOLDERS.map((f) => join(data.dir, f)));
      expect(c.entries.map((e) => e.method)).toEqual(['ce', 'vos', 'ares']);
      expect(c.entries.every((e) => e.seeds.length === 3)).toBe(true);
      expect(readBenchmarkConfig(file, { dataRoot: data.dir, preset: '40/100' }).defaults).toMatchObject({ epochs: 100, pretrainEpochs: 40 });
      expect(readBenchmarkConfig(file, { dataRoot: data.dir, preset: '80/200' }).defaults).toMatchObject({ epochs: 200, pretrainEpochs: 80 });
    }
    expect(() => readBenchmarkConfig(c10, { dataRoot: data.dir, preset: '10/20' })).toThrow(/no preset "10\/20" \(presets: 40\/100, 80\/200\)/);
    expect(() => readBenchmarkConfig(c10)).toThrow(/pass --data-root DIR/);
  });

  it('lists every missing dataset folder and trains nothing', async () => {
    const out = join(partial.dir, 'out');
    const r = await runCli(['benchmark', '--config', c10, '--data-root', partial.dir, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('3 dataset folder(s) missing, nothing was trained');
    for (const f of ['cifar-10-batches-bin', 'svhn', 'places365']) expect(r.stderr).toContain(join(partial.dir, f));
    for (const f of ['dtd/images', 'LSUN', 'iSUN']) expect(r.stderr).not.toContain(join(partial.dir, f) + '\n');
    expect(existsSync(out)).toBe(false);
  });

  it('runs end to end on CIFAR-format files and image folders (one seed of each method), and --collect writes the tables', async () => {
    const out = join(data.dir, 'out');
    const r = await runCli(['benchmark', '--config', c10, '--data-root', data.dir, '--out', out, '--shard', '0/3', ...SMOKE]);
    expect(r.code, r.stderr).toBe(0);
    const cell = JSON.parse(readFileSync(join(out, 'ares/seed-0/config.json'), 'utf8'));
    expect(cell).toMatchObject({ method: 'ares', model: 'cnn', epochs: 2, augment: 'crop-flip', batchSize: 32 });
    const col = await runCli(['benchmark', '--config', c10, '--data-root', data.dir, '--out', out, '--collect', ...SMOKE]);
    expect(col.code, col.stderr).toBe(0);
    expect(col.stderr).toContain('3 cell(s) finished, 6 not (yet)');
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    for (const row of ['CE + MSP', 'CE + ODIN', 'CE + Energy', 'CE + Mahalanobis', 'VOS + Energy', 'ARES + Energy']) expect(md).toContain(`| ${row} |`);
    // Datasets are named relative to the data root, so tables from different machines line up.
    for (const f of ['dtd/images', 'svhn', 'LSUN:test', 'iSUN', 'places365']) expect(md).toContain(`| ${f} FPR95↓ | ${f} AUROC↑ |`);
    expect(md).not.toContain(data.dir);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).missing).toHaveLength(6);
  });
});
