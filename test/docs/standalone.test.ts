import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The user docs stand alone: a reader with only this repository (or the npm package) must not be
 * sent to files outside it, to paths of the machine the project was developed on, or to issue
 * numbers of a tracker they cannot see; and every repository path the docs name must exist.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = ['README.md', 'BENCHMARKS.md', 'src/data/README.md',
  ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const FORBIDDEN: [string, RegExp][] = [
  ['a path outside the repository (../shared)', /\.\.\/shared\b/],
  ['a machine path (/work, /root, /home, /mnt)', /(^|[\s`'"(=])\/(work|root|home|mnt)\//],
  ['an issue number', /\bissues?[\s_#-]*\d+/i],
  ['an issue reference (#N)', /(^|[\s(])#\d+\b/],
];

/** Every hit of `re` in `text`, as "line N: excerpt". */
function hits(text: string, re: RegExp): string[] {
  return text.split('\n').flatMap((line, i) => (re.test(line) ? [`line ${i + 1}: ${line.trim().slice(0, 120)}`] : []));
}

describe('user docs stand alone', () => {
  it('finds the docs it checks', () => {
    expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'BENCHMARKS.md', 'docs/design.md']));
  });

  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8');

    it(`${doc}: no outside paths or issue numbers`, () => {
      for (const [what, re] of FORBIDDEN) expect(hits(text, re), `${doc} mentions ${what}`).toEqual([]);
    });

    it(`${doc}: every repository path it names exists`, () => {
      // `src/...`-style paths in code spans (from the repository root) and relative Markdown links.
      const spans = [...text.matchAll(/`((?:src|docs|bench|configs|scripts|test|bin)\/[\w./-]+)`/g)].map((m) => join(ROOT, m[1]));
      const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
        .map((m) => m[1]).filter((l) => !/^[a-z]+:/i.test(l)).map((l) => join(ROOT, dirname(doc), l));
      const missing = [...spans, ...links].filter((p) => !existsSync(p)).map((p) => p.slice(ROOT.length + 1));
      expect(missing, `${doc} names missing files`).toEqual([]);
    });
  }

  it('the checks catch what they are meant to', () => {
    const bad = ['see ../shared/design.md', 'run /work/shared/bench/x.py', 'the issue-5 benchmark', 'Issue 4 asks', 'fixed in #12'];
    for (const line of bad) expect(FORBIDDEN.some(([, re]) => re.test(line)), line).toBe(true);
    const fine = ['/usr/bin/python3 bench/torch_step.py', 'a known issue of tfjs', 'seeds 0–2', '## Heading'];
    for (const line of fine) expect(FORBIDDEN.some(([, re]) => re.test(line)), line).toBe(false);
  });
});
