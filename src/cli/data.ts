import type { Command } from 'commander';
import { AresError } from '../errors.js';
import { parseClassList, parseShape } from '../data/check.js';
import { inspectSource, type InspectReport } from '../data/inspect.js';
import { parseResizeMode } from '../data/input-contract.js';
import type { LoadOptions } from '../data/types.js';

/** `ares data inspect <source>`: validate a data source end to end and summarise it. */
export function register(program: Command): void {
  const data = program.command('data').description('read and check data sources');
  data.command('inspect <source>')
    .description('read every image of a source (built-in name, file or folder; name:split) and summarise it: '
      + 'format, count, shape, classes and counts, value range')
    .option('--json', 'print the summary as JSON')
    .option('--split <split>', 'only this split: train or test')
    .option('--shape <HxWxC>', 'resize / convert images to this shape (needed for folders of mixed sizes; generated sets: default 28x28x1)')
    .option('--fit <mode>', 'how to resize: crop (scale + centre crop, default), stretch, or pad (fit inside, black margins)')
    .option('--limit <n>', 'only a seeded random subset of n images')
    .option('--count <n>', 'images of a generated set (default 2000)')
    .option('--seed <n>', 'seed for --limit and generated sets', '0')
    .option('--classes <list>', 'only these classes, e.g. 0-5 or 1,3,7')
    .option('--skip-bad', 'leave out unreadable or non-image files of a folder (reports how many)')
    .action(async (source: string, o: Record<string, string | boolean | undefined>) => {
      const report = await inspectSource(source, toLoadOptions(o));
      const skipped = Object.values(report.splits).reduce((s, v) => s + (v?.skipped ?? 0), 0);
      if (skipped > 0) process.stderr.write(`ares: skipped ${skipped} bad image${skipped === 1 ? '' : 's'} (--skip-bad)\n`);
      process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    });
}

function toLoadOptions(o: Record<string, string | boolean | undefined>): LoadOptions {
  const opts: LoadOptions = { seed: int(o.seed, '--seed', 0), skipBad: Boolean(o.skipBad) };
  if (o.split !== undefined) {
    if (o.split !== 'train' && o.split !== 'test') throw usage(`--split must be train or test, got "${o.split}"`);
    opts.split = o.split;
  }
  if (typeof o.shape === 'string') opts.shape = parseShape(o.shape);
  if (o.fit !== undefined) opts.fit = parseResizeMode(o.fit, '--fit');
  if (o.limit !== undefined) opts.limit = int(o.limit, '--limit', 1);
  if (o.count !== undefined) opts.count = int(o.count, '--count', 1);
  if (typeof o.classes === 'string') opts.classes = parseClassList(o.classes);
  return opts;
}

function int(v: string | boolean | undefined, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw usage(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

function usage(msg: string): AresError {
  return new AresError(msg, { exitCode: 2 });
}

function formatReport(r: InspectReport): string {
  const lines = [`source  ${r.source} (${r.format}${r.path && r.path !== r.source ? `, ${r.path}` : ''})`];
  for (const [split, s] of Object.entries(r.splits)) {
    if (!s) continue;
    lines.push(`${split.padEnd(7)} ${s.count} images, ${s.shape.join('×')}, values ${fmt(s.min)}..${fmt(s.max)}, `
      + `mean ${s.mean.map(fmt).join('/')}, std ${s.std.map(fmt).join('/')}`);
    if (s.classes) lines.push(`        ${s.numClasses} classes: ${s.classes.map((c) => `${c.name} ${c.count}`).join(', ')}`);
    else lines.push('        unlabelled');
    if (s.skipped) lines.push(`        skipped ${s.skipped}: ${s.skippedFiles.slice(0, 3).map((f) => f.reason).join('; ')}`);
  }
  return lines.join('\n') + '\n';
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}
