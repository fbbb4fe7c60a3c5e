import { InvalidArgumentError, type Command } from 'commander';
import { writeReport } from '../report/read.js';

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
      const file = writeReport(o.run, { out: o.out, umap: { seed: o.seed } });
      process.stdout.write(o.json ? JSON.stringify({ report: file }) + '\n' : `wrote ${file}\n`);
    });
}
