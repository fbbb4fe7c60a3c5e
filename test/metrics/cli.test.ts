import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { register } from '../../src/cli/metrics.js';
import { AresError } from '../../src/errors.js';

const BIN = resolve(__dirname, '../../bin/ares.js');
const dir = mkdtempSync(join(tmpdir(), 'ares-metrics-cli-'));
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
const id = file('id.txt', '1\n2\n2\n3\n');
const ood = file('ood.csv', 'sample,score\na,2\nb,0\nc,1\nd,2\n');

/** The real binary, end to end (argument parsing, error printing, exit code). */
const ares = (...args: string[]) => spawnSync(process.execPath, [BIN, 'metrics', ...args], { encoding: 'utf8', timeout: 60_000 });

/** The command in-process: what it prints, or the error it fails with. */
async function run(...args: string[]): Promise<string> {
  const program = new Command('ares').exitOverride();
  register(program);
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { out += String(chunk); return true; });
  await program.parseAsync(['node', 'ares', 'metrics', ...args]);
  return out;
}
afterEach(() => { vi.restoreAllMocks(); });

describe('ares metrics (real binary)', () => {
  it('--json prints the exact metrics of the hand-computed case', () => {
    const r = ares('--id-scores', id, '--ood-scores', ood, '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m).toMatchObject({ fpr: 0.75, tpr: 0.95, convention: 'paper', threshold: 1, auroc: 11.5 / 16, n_id: 4, n_ood: 4 });
    expect(m.aupr_in).toBeCloseTo(97 / 140, 12);
    expect(m.aupr_out).toBeCloseTo(59 / 84, 12);
  });
  it('a bad file: the message names the file and the line, the exit code is non-zero', () => {
    const bad = file('bad.txt', '0.1\n0.2\nNaN\n');
    const r = ares('--id-scores', id, '--ood-scores', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ares: error: ${bad}: line 3: NaN is not a score\n`);
  });
});

describe('ares metrics (in-process)', () => {
  it('--tpr and --convention openood', async () => {
    const j = JSON.parse(await run('--id-scores', id, '--ood-scores', ood, '--json', '--tpr', '0.5', '--convention', 'openood'));
    expect(j).toMatchObject({ fpr: 0.25, tpr: 0.5, convention: 'openood', threshold: 1, tpr_reached: 0.5 });
  });
  it('a readable table without --json', async () => {
    const t = await run('--id-scores', id, '--ood-scores', ood);
    expect(t).toMatch(/FPR95\s+75\.00%\s+\(paper convention, threshold 1, TPR reached 100\.00%\)/);
    expect(t).toMatch(/AUROC\s+71\.88%/);
    expect(t).toMatch(/AUPR-In\s+69\.29%/);
  });
  it('a missing file, an empty file and bad flags are AresErrors with the right exit code', async () => {
    const missing = join(dir, 'nope.txt');
    await expect(run('--id-scores', missing, '--ood-scores', ood)).rejects.toThrow(`${missing}: cannot read score file: no such file`);
    const empty = file('empty.txt', '\n\n');
    await expect(run('--id-scores', id, '--ood-scores', empty)).rejects.toThrow(`${empty}: no scores (the file is empty)`);
    const badTpr = run('--id-scores', id, '--ood-scores', ood, '--tpr', '95');
    await expect(badTpr).rejects.toThrow(AresError);
    await expect(badTpr).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('--tpr must be a number in (0, 1]') });
    await expect(run('--id-scores', id, '--ood-scores', ood, '--convention', 'sklearn')).rejects.toMatchObject({ exitCode: 2 });
  });
});
