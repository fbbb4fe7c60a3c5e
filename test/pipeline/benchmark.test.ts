import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBenchmarkConfig } from '../../src/pipeline/benchmark.js';

const root = resolve(__dirname, '../..');
const ares = join(root, 'bin/ares.js');

describe('ares benchmark (the CI config, end to end)', () => {
  it('trains every cell, writes results.json and the paper-style tables, and reuses finished cells', () => {
    const out = mkdtempSync(join(tmpdir(), 'ares-bench-'));
    const cfg = join(root, 'configs/benchmark-ci.json');
    execFileSync(process.execPath, [ares, 'benchmark', '--config', cfg, '--out', out], { stdio: 'pipe' });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const config = readBenchmarkConfig(cfg);
    expect(results.cells).toHaveLength(config.entries.reduce((n, e) => n + e.seeds.length, 0));
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('Table 1');
    expect(md).toContain('Table 2');
    expect(md).toContain('CE + MSP');
    expect(md).toContain('ARES (linear) + Energy');
    expect(md).toContain('Validation OOD set');
    const firstMtime = statSync(join(out, 'ce/seed-0/metrics.json')).mtimeMs;

    const again = execFileSync(process.execPath, [ares, 'benchmark', '--config', cfg, '--out', out], { encoding: 'utf8', stdio: 'pipe' });
    expect(again).toContain('Table 1');
    expect(statSync(join(out, 'ce/seed-0/metrics.json')).mtimeMs).toBe(firstMtime);
  });

  it('rejects a config with a bad setting before training anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ares-badcfg-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ name: 'x', defaults: { id: 'mnist' }, entries: [{ label: 'A', method: 'nope', seeds: [0] }] }));
    let err: { status: number; stderr: Buffer } | undefined;
    try { execFileSync(process.execPath, [ares, 'benchmark', '--config', file, '--out', join(dir, 'o')], { stdio: 'pipe' }); } catch (e) { err = e as typeof err; }
    expect(err?.status).toBe(2);
    expect(err!.stderr.toString()).toContain('--method must be one of');
  });
});
