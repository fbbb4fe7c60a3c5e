import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const ares = join(root, 'bin/ares.js');

/** Three tiny cells (two rows), 2 epochs each so a cell can be killed between its checkpoints. */
const CONFIG = {
  name: 'shard test',
  defaults: { id: 'mnist', idClasses: [0, 1, 2, 3, 4], ood: ['gaussian'], valOod: 'blobs', model: 'cnn', limit: 192,
    epochs: 2, pretrainEpochs: 1, batchSize: 64, fractalBankSize: 32 },
  scores: ['energy'],
  entries: [
    { label: 'CE', method: 'ce', seeds: [0, 1], scores: ['energy', 'msp'] },
    { label: 'PixMix-only', method: 'pixmix-only', seeds: [0] },
  ],
};

const run = (args: string[]) => new Promise<{ code: number; stderr: string }>((res) => {
  execFile(process.execPath, [ares, 'benchmark', ...args], { maxBuffer: 64 << 20 }, (err, _out, stderr) => res({ code: err ? Number(err.code ?? 1) : 0, stderr }));
});

interface Event { cell: number; event: string; pid: number }

describe('ares benchmark --shard i/n: several processes on one results folder', () => {
  it('trains every cell exactly once, recovers a cell whose process was killed, and --collect equals an unsharded run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ares-shard-'));
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify(CONFIG));
    const shared = join(dir, 'shared');
    const reference = run(['--config', cfg, '--out', join(dir, 'reference')]);

    // Shard 0/2 (cells 0 and 2) is killed with SIGKILL between the two epochs of its first cell.
    const victim = spawn(process.execPath, [ares, 'benchmark', '--config', cfg, '--out', shared, '--shard', '0/2'], { stdio: 'ignore' });
    const killed = new Promise<string | null>((r) => victim.on('exit', (_c, signal) => r(signal)));
    const ckpt = join(shared, 'ce', 'seed-0', 'checkpoints', 'epoch-0001.ckpt');
    const deadline = Date.now() + 200_000;
    while (!existsSync(ckpt) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    victim.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');
    expect(existsSync(join(shared, 'ce', 'seed-0', 'metrics.json'))).toBe(false);

    // The job runner retries shard 0/2; shard 1/2 runs, and an unsharded process competes for every cell.
    const results = await Promise.all([
      run(['--config', cfg, '--out', shared, '--shard', '0/2']),
      run(['--config', cfg, '--out', shared, '--shard', '1/2']),
      run(['--config', cfg, '--out', shared]),
    ]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect((await reference).code).toBe(0);

    const events: Event[] = readFileSync(join(shared, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const count = (cell: number, event: string) => events.filter((e) => e.cell === cell && e.event === event).length;
    for (const cell of [0, 1, 2]) expect(count(cell, 'done'), `cell ${cell}`).toBe(1);
    // Cell 0: started by the killed process, taken over once and resumed; the others started once.
    expect(count(0, 'start')).toBe(2);
    expect(count(0, 'takeover')).toBe(1);
    expect(events.find((e) => e.cell === 0 && e.event === 'start')!.pid).toBe(victim.pid);
    expect(count(1, 'start')).toBe(1);
    expect(count(2, 'start')).toBe(1);
    expect(existsSync(join(shared, 'ce', 'seed-0', '.ares.lock'))).toBe(false);

    const collected = await run(['--config', cfg, '--out', shared, '--collect']);
    expect(collected.code, collected.stderr).toBe(0);
    expect(collected.stderr).toContain('3 cell(s) finished, 0 not (yet)');
    const tables = (d: string) => readFileSync(join(d, 'results.md'), 'utf8');
    expect(tables(shared)).toContain('CE + MSP');
    expect(tables(shared)).toBe(tables(join(dir, 'reference')));
    const results0 = JSON.parse(readFileSync(join(shared, 'results.json'), 'utf8'));
    expect(results0.cells).toHaveLength(3);
  });
});
