import { InvalidArgumentError, type Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { AresError } from '../errors.js';
import { writeReport } from '../report/read.js';
import { claimRunFolder } from '../run/folder.js';
import { checkOutputDirPath } from '../util/fs.js';
import { writeMarker } from '../util/output-folder.js';
import { dirname } from 'node:path';

/** How every report this tool writes begins (src/report/html.ts): an existing file that does not is the user's. */
const REPORT_START = '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">';

/** `--out FILE` may be a new file or an earlier report, never a folder or a user's other file. */
export function checkReportOut(file: string): void {
  checkOutputDirPath(dirname(file), '--out');
  if (!existsSync(file)) return;
  if (statSync(file).isDirectory()) throw new AresError('--out must be a file, but this is a folder; name the report file, e.g. report.html', { file, exitCode: 2 });
  const start = readFileSync(file, { encoding: 'utf8' }).slice(0, REPORT_START.length);
  if (start !== REPORT_START) {
    throw new AresError('--out exists and is not a report written by ares-ood; it was left unchanged: choose a new file name', { file, exitCode: 2 });
  }
}

/** `ares report --run DIR [--out FILE]`: the run's self-contained HTML report. */
export function register(program: Command): void {
  program.command('report')
    .description('write the run\'s HTML report (config, metrics, ROC curves, score histograms, UMAP of features, training curves, samples); opens offline')
    .requiredOption('--run <dir>', 'run folder')
    .option('--out <file>', 'where to write it (default <run>/report.html)')
    .option('--seed <n>', 'seed of the UMAP layout (default 0)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
      return n;
    }, 0)
    .option('--json', 'print {report} as JSON')
    .action((o: { run: string; out?: string; seed: number; json?: boolean }) => {
      if (o.out) checkReportOut(o.out);
      else if (claimRunFolder(o.run, '--run') === 'legacy') writeMarker(o.run, 'run');
      const file = writeReport(o.run, { out: o.out, umap: { seed: o.seed } });
      process.stdout.write(o.json ? JSON.stringify({ report: file }) + '\n' : `wrote ${file}\n`);
    });
}
