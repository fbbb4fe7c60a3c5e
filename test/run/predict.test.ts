import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { predictFiles } from '../../src/run/predict.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';
import { expectAresError, runCli, tempDir, writeProbeImages } from './helpers.js';

/**
 * The "done when": `ares predict` answers `unknown` for most Gaussian-noise images and the
 * right digit for most held-in digits. The run is a real trained one (test/fixtures/tiny-run.ts);
 * the noise images are drawn with a seed the fixture never used, and PNG files go through the CLI.
 */
const { dir, cleanup } = tempDir('predict');
afterAll(cleanup);
const runDir = join(dir, 'run');
const digitsDir = join(dir, 'images', 'digits');
const noiseDir = join(dir, 'images', 'noise');
let run: TinyRun;
let truth = new Map<string, string>();

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  run = await buildTinyRun(runDir, { seed: 0 });
  // 10 held-out test digits of each ID class (never trained on, never used for γ).
  truth = await writeProbeImages(run.data.test, run.data.classNames, digitsDir, noiseDir, { noiseSeed: 12345 });
  writeFileSync(join(dir, 'images', 'broken.png'), 'not an image at all');
  writeFileSync(join(noiseDir, 'notes.txt'), 'ignored: not an image extension');
});

describe('ares predict', () => {
  it('answers unknown for most Gaussian-noise images and the right digit for most held-in digits (CLI, --json)', () => {
    const r = runCli(['predict', '--run', runDir, '--json', digitsDir, noiseDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.gamma).toBe(run.detector.threshold.gamma);
    expect(out.predictions).toHaveLength(60 + 30);
    const noise = out.predictions.filter((p: { file: string }) => p.file.startsWith(noiseDir));
    const digits = out.predictions.filter((p: { file: string }) => p.file.startsWith(digitsDir));
    const unknownShare = noise.filter((p: { label: string }) => p.label === 'unknown').length / noise.length;
    const correctShare = digits.filter((p: { file: string; label: string }) => p.label === truth.get(p.file)).length / digits.length;
    console.log(`predict: ${(100 * unknownShare).toFixed(0)}% of Gaussian noise unknown, ${(100 * correctShare).toFixed(0)}% of held-in digits right (γ = ${out.gamma.toFixed(3)})`);
    expect(unknownShare).toBeGreaterThanOrEqual(0.9);
    expect(correctShare).toBeGreaterThanOrEqual(0.8);
    for (const p of out.predictions) {
      expect(p.accepted).toBe(p.score >= out.gamma);
      expect(p.label === 'unknown').toBe(!p.accepted);
    }
  });

  it('prints one line per image: path, label, score', () => {
    const r = runCli(['predict', '--run', runDir, noiseDir]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(30);
    expect(lines[0]).toMatch(/noise-0\.png\s+\S+\s+-?\d+\.\d{4}$/);
  });

  it('library and CLI agree; the library names a bad image and a missing run', async () => {
    const lib = await predictFiles(runDir, [join(noiseDir, 'noise-0.png'), join(digitsDir)]);
    expect(lib.predictions[0].file).toBe(join(noiseDir, 'noise-0.png'));
    expect(lib.predictions).toHaveLength(61);
    await expectAresError(() => predictFiles(runDir, [join(dir, 'images', 'broken.png')]), 'broken.png', 'not a readable image');
    await expectAresError(() => predictFiles(join(dir, 'nope'), [noiseDir]), 'run folder not found');
    await expectAresError(() => predictFiles(runDir, [join(dir, 'missing.png')]), 'no such file or folder', 'missing.png');
  });

  it('exits non-zero with the file named for a bad image', () => {
    const r = runCli(['predict', '--run', runDir, join(dir, 'images', 'broken.png')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ares: error: .*broken\.png: not a readable image/);
    expect(r.stdout).toBe('');
  });
});
