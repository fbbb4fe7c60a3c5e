import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const ares = join(root, 'bin/ares.js');

/** One ensemble cell of 2 tiny members, 2 epochs each, so it can be killed inside its first member. */
const CONFIG = {
  name: 'ensemble resume test',
  defaults: { id: 'mnist', idClasses: [0, 1, 2, 3, 4], ood: ['gaussian'], valOod: 'blobs', model: 'cnn', limit: 192,
    epochs: 2, pretrainEpochs: 1, batchSize: 64 },
  scores: ['energy', 'vim'],
  entries: [{ label: 'CE ensemble of 2', method: 'ce', ensemble: 2, seeds: [0] }],
};

const run = (args: string[]) => new Promise<{ code: number; stderr: string }>((res) => {
  execFile(process.execPath, [ares, 'benchmark', ...args], { maxBuffer: 64 << 20 }, (err, _out, stderr) => res({ code: err ? Number(err.code ?? 1) : 0, stderr }));
});

const metricsOf = (dir: string) => {
  const m = JSON.parse(readFileSync(join(dir, 'ce-ensemble-of-2', 'seed-0', 'metrics.json'), 'utf8'));
  delete m.trainSeconds;
  return m;
};

describe('ares benchmark: an ensemble cell killed mid-training', () => {
  it('resumes from its members\' checkpoints on the next run and ends with the uninterrupted metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ares-ens-resume-'));
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify(CONFIG));
    const whole = run(['--config', cfg, '--out', join(dir, 'whole')]);

    const out = join(dir, 'killed');
    const victim = spawn(process.execPath, [ares, 'benchmark', '--config', cfg, '--out', out], { stdio: 'ignore' });
    const killed = new Promise<string | null>((r) => victim.on('exit', (_c, signal) => r(signal)));
    const ckpt = join(out, 'ce-ensemble-of-2', 'seed-0', 'members', 'seed-0', 'checkpoints', 'epoch-0001.ckpt');
    const deadline = Date.now() + 200_000;
    while (!existsSync(ckpt) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    victim.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');
    // An ensemble keeps its state under members/, not checkpoints/: the rerun must resume it, not refuse the folder.
    expect(existsSync(join(out, 'ce-ensemble-of-2', 'seed-0', 'checkpoints'))).toBe(false);

    const again = await run(['--config', cfg, '--out', out]);
    expect(again.stderr).not.toContain('already holds a training run');
    expect(again.code).toBe(0);
    expect((await whole).code).toBe(0);
    expect(metricsOf(out)).toEqual(metricsOf(join(dir, 'whole')));
  }, 600_000);
});
