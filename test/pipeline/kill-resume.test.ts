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
    // The killed process's claim on the folder is still there; it must not block the resume.
    expect(JSON.parse(readFileSync(join(dir, '.ares.lock'), 'utf8')).pid).toBe(child.pid);

    execFileSync(process.execPath, [ares, 'train', '--id', 'mnist', '--out', dir, '--resume', '--json'], { stdio: 'pipe' });
    expect(metricsOf(dir)).toEqual(metricsOf(whole));
    expect(existsSync(join(dir, '.ares.lock'))).toBe(false);
  });
});

describe('two ares train commands started at once into one --out', () => {
  it('exactly one trains; the other exits non-zero naming the folder and the holding pid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ares-twice-'));
    const start = () => {
      const child = spawn(process.execPath, [ares, ...args(dir)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      return new Promise<{ pid: number; code: number | null; stderr: string }>((r) => child.on('close', (code) => r({ pid: child.pid!, code, stderr })));
    };
    const results = await Promise.all([start(), start()]);
    const ok = results.filter((r) => r.code === 0);
    const refused = results.filter((r) => r.code !== 0);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].stderr).toContain(`${dir} is in use by another training (pid ${ok[0].pid} on`);
    expect(existsSync(join(dir, 'metrics.json'))).toBe(true);
    expect(existsSync(join(dir, '.ares.lock'))).toBe(false);
  });
});
