import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { AresError } from '../../src/errors.js';
import { generateSet, type ImageSet } from '../../src/data/index.js';
import { encodePng } from '../../src/run/images.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ares-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `node bin/ares.js ...args` from the repository root. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/ares.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: join(import.meta.dirname, '..', '..'), timeout: timeoutMs });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts that fn throws (or rejects with) an AresError whose message matches every pattern. */
export async function expectAresError(fn: () => unknown, ...patterns: (string | RegExp)[]): Promise<AresError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an AresError').toBeInstanceOf(AresError);
  for (const p of patterns) expect((caught as Error).message).toMatch(p);
  return caught as AresError;
}

/**
 * The images the predict tests ask about, as PNG files: the first `perClass` images of each class
 * of an ID test set in `digitsDir` (returned: file → true class name), and `noiseCount` Gaussian-noise
 * images drawn with `noiseSeed` in `noiseDir`.
 */
export async function writeProbeImages(test: ImageSet, classNames: string[], digitsDir: string, noiseDir: string,
  opts: { perClass?: number; noiseCount?: number; noiseSeed: number }): Promise<Map<string, string>> {
  const perClassMax = opts.perClass ?? 10;
  mkdirSync(digitsDir, { recursive: true });
  mkdirSync(noiseDir, { recursive: true });
  const truth = new Map<string, string>();
  const perClass = new Map<number, number>();
  for (let i = 0; i < test.count; i++) {
    const label = test.labels![i];
    if ((perClass.get(label) ?? 0) >= perClassMax) continue;
    perClass.set(label, (perClass.get(label) ?? 0) + 1);
    const file = join(digitsDir, `test-${i}.png`);
    writeFileSync(file, await encodePng(test, i));
    truth.set(file, classNames[label]);
  }
  const noise = generateSet('gaussian', { shape: test.shape, count: opts.noiseCount ?? 30, seed: opts.noiseSeed, split: 'test' });
  for (let i = 0; i < noise.count; i++) writeFileSync(join(noiseDir, `noise-${i}.png`), await encodePng(noise, i));
  return truth;
}

/**
 * `ares predict` on the probe folders of writeProbeImages: the share of noise answered unknown and of
 * held-in digits given their true label (the bar every "unknown for the models people have" test sets).
 */
export function predictShares(runDir: string, digitsDir: string, noiseDir: string, truth: Map<string, string>, what: string): { unknownShare: number; rightShare: number } {
  const p = runCli(['predict', '--run', runDir, '--json', digitsDir, noiseDir]);
  if (p.code !== 0) throw new Error(`ares predict exited ${p.code}: ${p.stderr}`);
  const preds = JSON.parse(p.stdout).predictions as { file: string; label: string }[];
  const noise = preds.filter((x) => x.file.includes('noise-'));
  const digits = preds.filter((x) => truth.has(x.file));
  const unknownShare = noise.filter((x) => x.label === 'unknown').length / noise.length;
  const rightShare = digits.filter((x) => x.label === truth.get(x.file)).length / digits.length;
  console.log(`${what}: ${(100 * unknownShare).toFixed(0)}% of noise unknown, ${(100 * rightShare).toFixed(0)}% of held-in digits right`);
  return { unknownShare, rightShare };
}
