import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

/** The README's library example, run as a user would (imports 'ares-ood'). */
describe('README library example', () => {
  it('runs and answers unknown for uniform noise', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## Library\s+```ts\n([\s\S]*?)```/.exec(readme);
    expect(block, 'README has a ```ts block under "## Library"').not.toBeNull();
    const file = join(root, 'test/docs/.readme-example.generated.mts');
    writeFileSync(file, block![1]);
    const cwd = mkdtempSync(join(tmpdir(), 'ares-readme-'));
    const out = execFileSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', join(root, 'tsconfig.json'), file], {
      cwd, encoding: 'utf8', env: { ...process.env, ARES_THREADS: '2' }, timeout: 600_000,
    });
    expect(existsSync(join(cwd, 'runs/digits/detector.json'))).toBe(true);
    const lines = out.trim().split('\n');
    const [acc, fpr] = lines[0].split(' ').map(Number);
    expect(acc).toBeGreaterThan(0.8);
    expect(fpr).toBeGreaterThanOrEqual(0);
    const answers = lines.slice(1).map((l) => l.split(' ')[0]);
    expect(answers).toHaveLength(4);
    expect(answers.filter((a) => a === 'unknown').length).toBeGreaterThanOrEqual(3);
  });
});
