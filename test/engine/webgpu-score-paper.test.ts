import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path, { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, ROOT } from '../data/helpers.js';
import { writePaperDataRoot } from '../pipeline/paper-data.js';

// `ares benchmark --backend webgpu` on a cell of configs/cifar10-paper.json (the CE entry: crop-flip,
// scored with msp, odin, energy and mahalanobis) on generated CIFAR-format files and image folders,
// on Chromium's SwiftShader: trained on webgpu and scored there. Only sizes are cut (8 images,
// batch 4, one epoch). SwiftShader runs the config's WRN-40-2 on the CPU at tens of seconds per
// step, and scoring it (forward passes of every set, ODIN's backward passes) takes minutes, so the
// whole cell runs with --set model=cnn, and WRN-40-2 is checked to finish its training step and start
// scoring. SwiftShader's times say nothing about a GPU.
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
  }, 180_000);

  it('trains the config\'s WRN-40-2 for its one step on webgpu and starts scoring (stopped there)', async () => {
    const out = join(data.dir, 'out-wrn');
    const child = spawn(process.execPath, [join(ROOT, 'bin/ares.js'), 'benchmark', '--backend', 'webgpu', '--config', CONFIG, '--data-root', data.dir, '--out', out, ...TINY],
      { cwd: ROOT, env: { ...process.env, ...env() } });
    let stderr = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    await new Promise<void>((res) => {
      child.stderr.on('data', (b) => {
        stderr += String(b);
        if (/^ce\/wrn40-2 seed 0: evaluating$/m.test(stderr)) res();
      });
      child.on('exit', () => res());
    });
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toMatch(/^ce\/wrn40-2 seed 0: epoch 1 ce \d+\.\d+ /m);
    expect(stderr).toMatch(/^ce\/wrn40-2 seed 0: evaluating$/m);
    expect(stderr).not.toMatch(/error/i);
    expect(JSON.parse(readFileSync(join(out, 'ce/seed-0/config.json'), 'utf8'))).toMatchObject({ model: 'wrn40-2', epochs: 1 });
  }, 180_000);
});
