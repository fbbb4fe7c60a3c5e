import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LOADER_DTS } from '../../src/export/dts.js';

/**
 * The bundle's loader.d.ts is written by hand (the bundle ships no compiler). tsc checks that each
 * of its types is mutually assignable with the real one in src/export/loader.ts; a deliberately
 * wrong copy must fail the same check, so the check itself is known to bite.
 */
const REPO = resolve(import.meta.dirname, '..', '..');
mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'dts-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(name: string, dts: string): { code: number; out: string } {
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, 'loader.d.ts'), dts);
  const src = relative(d, join(REPO, 'src', 'export', 'loader.js')).replaceAll('\\', '/');
  writeFileSync(join(d, 'check.ts'), `import type * as B from './loader.js';
import type * as S from '${src}';
type Same<A, C> = [A] extends [C] ? ([C] extends [A] ? true : false) : false;
export const checks: [
  Same<B.Prediction, S.Prediction>, Same<B.Detector, S.Detector>, Same<B.DetectorSpec, S.DetectorSpec>,
  Same<B.DetectorInput, S.DetectorInput>, Same<B.ImageDataLike, S.ImageDataLike>, Same<B.PredictOptions, S.PredictOptions>,
  Same<B.LoadOptions, S.LoadOptions>, Same<typeof B.loadDetector, typeof S.loadDetector>,
  Same<typeof B.createDetector, typeof S.createDetector>, Same<typeof B.UNKNOWN, typeof S.UNKNOWN>,
  Same<typeof B.modelPixels, typeof S.modelPixels>,
] = [true, true, true, true, true, true, true, true, true, true, true];
`);
  writeFileSync(join(d, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: true, types: ['node'] },
    files: ['check.ts'],
  }));
  const r = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(d, 'tsconfig.json')], { encoding: 'utf8', cwd: REPO });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

describe('loader.d.ts', () => {
  it('matches the loader\'s real types', () => {
    const r = check('real', LOADER_DTS);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('a drifted copy fails the same check', () => {
    const r = check('drifted', LOADER_DTS.replace('  score: number;\n  accepted: boolean;', '  score: string;\n  accepted: boolean;'));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/check\.ts/);
  });
});
