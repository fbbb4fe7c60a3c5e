import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { AresError } from '../../src/errors.js';

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
