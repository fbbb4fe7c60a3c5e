import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cellConfig, readBenchmarkConfig } from '../../src/pipeline/benchmark.js';
import { DIVERGENCE_FORMS, VALIDATION_OOD_SETS, valOodList } from '../../src/methods/config.js';

const root = join(import.meta.dirname, '..', '..');
const read = (name: string) => readBenchmarkConfig(join(root, 'configs', `${name}.json`));
const cells = (name: string) => { const c = read(name); return c.entries.flatMap((e) => e.seeds.map((s) => ({ e, cfg: cellConfig(c, e, s) }))); };

describe('shipped experiment configs', () => {
  it('validation grids compute no test number and use the protocol\'s validation sets', () => {
    for (const name of ['validation-forms', 'validation-options']) {
      for (const { cfg } of cells(name)) {
        expect(cfg.ood).toEqual([]);
        expect(cfg.idClasses).toBeUndefined();
        expect(valOodList(cfg.valOod)).toEqual([...VALIDATION_OOD_SETS]);
      }
    }
    const forms = new Set(cells('validation-forms').filter(({ cfg }) => cfg.method === 'ares' && cfg.loss === 'jsd').map(({ cfg }) => cfg.divergence));
    expect([...forms].sort()).toEqual([...DIVERGENCE_FORMS].sort());
  });

  it('the verdict has 5 seeds for CE, VOS, PixMix-only and every form, 3 for ablations, and paired references', () => {
    const c = read('verdict');
    expect(c.paired).toEqual(['PixMix-only', 'CE']);
    expect(c.pairedAblations).toEqual(['ARES (directional)', 'PixMix-only']);
    for (const e of c.entries) {
      const main = (e.tables ?? ['main']).includes('main');
      expect(e.seeds.length, e.label).toBe(main ? 5 : 3);
    }
    const forms = new Set(cells('verdict').filter(({ e }) => (e.tables ?? ['main']).includes('main') && e.method === 'ares' && !e.loss).map(({ cfg }) => cfg.divergence));
    expect([...forms].sort()).toEqual([...DIVERGENCE_FORMS].sort());
  });

  it('near-OOD configs keep classes 0-5 (6-9 become an OOD set) at the benchmark budget', () => {
    const bench = read('benchmark').defaults;
    for (const [name, id] of [['verdict-near-fashion-mnist', 'fashion-mnist'], ['verdict-near-mnist', 'mnist']]) {
      for (const { cfg } of cells(name)) {
        expect(cfg.id).toBe(id);
        expect(cfg.idClasses).toEqual([0, 1, 2, 3, 4, 5]);
        expect([cfg.limit, cfg.epochs, cfg.pretrainEpochs, cfg.model]).toEqual([bench.limit, bench.epochs, bench.pretrainEpochs, bench.model]);
      }
    }
  });

  it('the retrained-fold grid: each known class left out once per method, the grid\'s training settings, no test OOD set', () => {
    const grid = read('near-ood-grid-fashion-mnist');
    const gridCfg = (label: string) => cellConfig(grid, grid.entries.find((e) => e.label === label)!, 0);
    const byMethod = new Map<string, number[]>();
    for (const { e, cfg } of cells('near-ood-folds-fashion-mnist')) {
      const [, method, fold] = /^(.*) \/ fold (\d)$/.exec(e.label)!;
      expect(cfg.foldClass).toBe(Number(fold));
      expect(cfg.ood).toEqual([]);
      // The same cell as the grid's method but for the fold (seed aside).
      const { foldClass: _f, ood: _o, ...rest } = cfg;
      const { ood: _go, ...gridRest } = gridCfg(method);
      expect(rest).toEqual(gridRest);
      byMethod.set(method, [...(byMethod.get(method) ?? []), cfg.foldClass!]);
    }
    expect([...byMethod.keys()]).toEqual(['CE', 'Rotation', 'CE ensemble of 3']);
    for (const folds of byMethod.values()) expect(folds).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a paired reference that is no entry is an error naming the file and the key', () => {
    const raw = JSON.parse(readFileSync(join(root, 'configs', 'verdict.json'), 'utf8'));
    const file = join(mkdtempSync(join(tmpdir(), 'ares-cfg-')), 'bad.json');
    writeFileSync(file, JSON.stringify({ ...raw, pairedAblations: ['ARES (typo)'] }));
    expect(() => readBenchmarkConfig(file)).toThrow(/bad\.json.*"pairedAblations" names "ARES \(typo\)"|"pairedAblations" names "ARES \(typo\)".*bad\.json/s);
  });

  it('a paired row that is no entry, or a score the entry does not compute, is an error naming the file', () => {
    const raw = JSON.parse(readFileSync(join(root, 'configs', 'near-ood-grid-fashion-mnist.json'), 'utf8'));
    const dir = mkdtempSync(join(tmpdir(), 'ares-cfg-'));
    const write = (pairedRows: unknown) => { const f = join(dir, 'bad.json'); writeFileSync(f, JSON.stringify({ ...raw, pairedRows })); return f; };
    expect(() => readBenchmarkConfig(write([{ label: 'CE (typo)', score: 'vim' }]))).toThrow(/bad\.json.*"pairedRows" names "CE \(typo\)"|"pairedRows" names "CE \(typo\)".*bad\.json/s);
    expect(() => readBenchmarkConfig(write([{ label: 'CE', score: 'rotpred' }]))).toThrow(/entry "CE" is not scored with "rotpred"/);
    expect(readBenchmarkConfig(write([{ label: 'Rotation', score: 'rotpred' }])).pairedRows).toEqual([{ label: 'Rotation', score: 'rotpred' }]);
  });

  it('the near-OOD grid: every method of the comparison on 5 seeds, rotpred only where the rotation head exists', () => {
    const c = read('near-ood-grid-fashion-mnist');
    expect(c.paired).toEqual(['CE', 'PixMix-only']);
    expect(c.pairedRows).toEqual([{ label: 'CE', score: 'vim' }, { label: 'PixMix-only', score: 'energy' }]);
    const methods = c.entries.map((e) => cellConfig(c, e, e.seeds[0]).method);
    for (const m of ['ce', 'pixmix-only', 'ares', 'logitnorm', 'pixmix-logitnorm', 'rotation', 'pixmix-rotation']) expect(methods).toContain(m);
    for (const { e, cfg } of [...cells('near-ood-grid-fashion-mnist'), ...cells('near-ood-grid-mnist')]) {
      expect(e.seeds).toEqual([0, 1, 2, 3, 4]);
      expect(cfg.idClasses).toEqual([0, 1, 2, 3, 4, 5]);
      const scores = e.scores ?? c.scores;
      expect(scores.includes('rotpred')).toBe(cfg.method === 'rotation' || cfg.method === 'pixmix-rotation');
      expect(scores).toEqual(expect.arrayContaining(['mls', 'gen', 'vim', 'knn', 'energy']));
      // An ensemble has no single linear head for the activation-shaping scores.
      for (const s of ['react', 'ash', 'scale']) expect(scores.includes(s as never)).toBe(!cfg.ensemble);
    }
    expect(c.entries.some((e) => cellConfig(c, e, 0).ensemble === 3)).toBe(true);
    // The MNIST grid is the same grid on the other near split: only the ID set and its far sets differ.
    const m = read('near-ood-grid-mnist');
    expect(m.entries).toEqual(c.entries);
    expect(m.scores).toEqual(c.scores);
    expect({ ...m.defaults, id: c.defaults.id, ood: c.defaults.ood }).toEqual(c.defaults);
    expect(m.defaults.id).toBe('mnist');
  });
});
