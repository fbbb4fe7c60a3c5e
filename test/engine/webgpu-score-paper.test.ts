import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path, { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, ROOT } from '../data/helpers.js';
import { writePaperDataRoot } from '../pipeline/paper-data.js';

// `ares benchmark --backend webgpu` on a cell of configs/cifar10-paper.json (the CE entry: crop-flip,
// scored with msp, odin, energy and mahalanobis) on generated CIFAR-format files and image folders,
// on Chromium's SwiftShader: trained on webgpu and scored there. Only sizes are cut (8 images,
// batch 4, one epoch) and the model is the small CNN (--set model=cnn): on SwiftShader the config's
// WRN-40-2 took about 50 s for its one step and its scoring did not finish in six minutes, while
// this cell takes about two and a half minutes on a shared machine. SwiftShader's times say nothing about a GPU.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const CONFIG = join(ROOT, 'configs/cifar10-paper.json');
const TINY = ['--shard', '0/9', '--set', 'epochs=1', 'pretrainEpochs=0', 'batchSize=4', 'limit=8'];
const data = tempDir('paper-webgpu');
afterAll(data.cleanup);
const env = () => ({ VK_ICD_FILENAMES: SWIFTSHADER_ICD, ARES_THREADS: '1', XDG_RUNTIME_DIR: mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-')) });

describe.skipIf(!existsSync(SWIFTSHADER_ICD))('a paper cell on --backend webgpu (SwiftShader)', () => {
  beforeAll(async () => { await writePaperDataRoot(data.dir, { train: 20, test: 10, ood: 4 }); });

  it('runs the CE cell end to end (model=cnn): trained and scored on webgpu with the entry\'s four scores', async () => {
    const out = join(data.dir, 'out-cnn');
    const r = await runCli(['benchmark', '--backend', 'webgpu', '--config', CONFIG, '--data-root', data.dir, '--out', out, ...TINY, 'model=cnn'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ce\/cnn seed 0: evaluating$/m);
    const cell = JSON.parse(readFileSync(join(out, 'ce/seed-0/config.json'), 'utf8'));
    expect(cell).toMatchObject({ method: 'ce', model: 'cnn', augment: 'crop-flip', epochs: 1, batchSize: 4 });
    const metrics = JSON.parse(readFileSync(join(out, 'ce/seed-0/metrics.json'), 'utf8'));
    expect(metrics.backend).toBe('webgpu');
    expect(Object.keys(metrics.thresholds).sort()).toEqual(['energy', 'mahalanobis', 'msp', 'odin']);
    // Five OOD sets × four scores, every number finite (a NaN score would make them NaN).
    expect(metrics.rows).toHaveLength(20);
    for (const row of metrics.rows) expect(Number.isFinite(row.auroc) && Number.isFinite(row.fpr95), `${row.ood} ${row.score}`).toBe(true);
  }, 300_000);
});
