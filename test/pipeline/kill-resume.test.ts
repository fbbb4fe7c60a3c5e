import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const ares = join(root, 'bin/ares.js');
const args = (out: string) => ['train', '--id', 'mnist', '--id-classes', '0,1,2,3,4', '--ood', 'gaussian', '--limit', '512',
  '--epochs', '3', '--pretrain-epochs', '1', '--batch-size', '64', '--seed', '11', '--out', out, '--json'];
const metricsOf = (dir: string) => {
  const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
  delete m.trainSeconds;
  return m;
};

describe('ares train killed with SIGKILL and resumed', () => {
  it('reproduces the uninterrupted run\'s final metrics', async () => {
    const whole = mkdtempSync(join(tmpdir(), 'ares-whole-'));
    execFileSync(process.execPath, [ares, ...args(whole)], { stdio: 'pipe' });

    const dir = mkdtempSync(join(tmpdir(), 'ares-killed-'));
    const child = spawn(process.execPath, [ares, ...args(dir)], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(signal ? -1 : code)));
    // Kill it as soon as the first epoch's checkpoint is on disk, i.e. mid-run.
    const deadline = Date.now() + 120_000;
    while (!existsSync(join(dir, 'checkpoints', 'epoch-0001.ckpt')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    expect(await exited).toBe(-1);
    expect(existsSync(join(dir, 'metrics.json'))).toBe(false);

    execFileSync(process.execPath, [ares, 'train', '--id', 'mnist', '--out', dir, '--resume', '--json'], { stdio: 'pipe' });
    expect(metricsOf(dir)).toEqual(metricsOf(whole));
  });
});
