import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import type { TrainConfig } from '../methods/config.js';
import { initEngine } from '../engine/backend.js';
import { resolveConfig } from '../pipeline/train-run.js';
import { runMetrics, type RunMetrics } from '../pipeline/run-folder.js';
import { withFsErrors, writeFileAtomic } from '../util/fs.js';
import { claimOutputFolder, isDir, writeMarker } from '../util/output-folder.js';
import { mkdirSync } from 'node:fs';
import { int, selfCommand } from './options.js';
import { runWithProgress } from './train.js';

/**
 * The README's main job: MNIST digits 0–5 are the known classes, digits 6–9 and two noise sets are
 * the unknowns. Trains a plain CE classifier and an ARES one with the same budget, evaluates both
 * and writes their reports, so a newcomer sees what ARES changes in a few minutes.
 */
export function demoConfig(method: 'ares' | 'ce', epochs: number, limit?: number): TrainConfig {
  return resolveConfig({
    id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], ood: ['gaussian', 'uniform'], valOod: 'blobs',
    model: 'cnn', method, epochs, pretrainEpochs: Math.max(1, Math.floor(epochs / 3)), seed: 0, limit,
  });
}

export function summaryTable(results: { label: string; m: RunMetrics }[]): string {
  const sets = [...new Set(results.flatMap((r) => r.m.rows.map((x) => x.ood)))];
  const head = ['method', 'ID acc.', ...sets.map((s) => `${s} FPR95↓ / AUROC↑`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const { label, m } of results) {
    const cells = sets.map((s) => {
      const row = m.rows.find((x) => x.ood === s && x.score === 'energy');
      return row ? `${(100 * row.fpr95).toFixed(1)} / ${(100 * row.auroc).toFixed(1)}` : '–';
    });
    lines.push(`| ${[label, `${(100 * m.idAccuracy).toFixed(1)}%`, ...cells].join(' | ')} |`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program.command('demo')
    .description('train CE and ARES on MNIST digits 0–5 (6–9 and noise as unknowns), compare them and write reports')
    .option('--out <dir>', 'output folder', './ares-demo')
    .option('--epochs <n>', 'epochs per method', int, 6)
    .option('--limit <n>', 'training images (default: all of digits 0–5)', int)
    .action(async (o) => {
      // The demo's folder holds its two runs and summary.md; a folder from before the marker is
      // recognised when it holds nothing else.
      claimOutputFolder(o.out, 'demo', { legacy: (dir, entries) => entries.every((n) => n === 'summary.md' || ((n === 'ce' || n === 'ares') && isDir(join(dir, n)))) });
      withFsErrors(o.out, () => mkdirSync(o.out, { recursive: true }), 'cannot create the folder');
      writeMarker(o.out, 'demo');
      const engine = await initEngine();
      process.stderr.write(`ares demo on the ${engine.backend} backend (${engine.threads} thread${engine.threads > 1 ? 's' : ''})\n`);
      const results: { label: string; m: RunMetrics }[] = [];
      for (const [method, label] of [['ce', 'CE (plain classifier)'], ['ares', 'ARES']] as const) {
        const out = join(o.out, method);
        const r = await runWithProgress(demoConfig(method, o.epochs, o.limit), out, false, ['energy']);
        results.push({ label, m: runMetrics(r) });
      }
      const table = summaryTable(results);
      const text = `# ares demo\n\nIn-distribution: MNIST digits 0–5. Unknown: digits 6–9, Gaussian and uniform noise.\n`
        + `Score: energy (ARES with its learned weights); threshold γ accepts 95% of ID validation images.\n\n${table}\n\n`
        + `Reports: ${join(o.out, 'ares', 'report.html')}, ${join(o.out, 'ce', 'report.html')}\n`;
      writeFileAtomic(join(o.out, 'summary.md'), text);
      process.stdout.write(`\n${table}\n\nreports:\n  ${resolve(o.out, 'ares', 'report.html')}\n  ${resolve(o.out, 'ce', 'report.html')}\n`
        + `try: ${selfCommand()} predict --run ${join(o.out, 'ares')} <image.png>\n`);
    });
}
