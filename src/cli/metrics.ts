import type { Command } from 'commander';
import { AresError } from '../errors.js';
import { FPR_CONVENTIONS, type FprConvention, type OodMetrics, oodMetrics, readScoreFile } from '../metrics/index.js';

interface MetricsOptions {
  idScores: string;
  oodScores: string;
  json?: boolean;
  tpr: string;
  convention: string;
}

export function register(program: Command): void {
  program.command('metrics')
    .description('OOD metrics (FPR at a TPR, AUROC, AUPR-In/Out) of two score files, higher score = more in-distribution')
    .requiredOption('--id-scores <file>', 'scores of in-distribution samples: one number per line, or CSV with a "score" column')
    .requiredOption('--ood-scores <file>', 'scores of OOD samples, same format')
    .option('--tpr <rate>', 'true positive rate the FPR is read at, in (0, 1]', '0.95')
    .option('--convention <name>', `paper (ID positive, the default) or openood (OOD positive)`, 'paper')
    .option('--json', 'print one JSON object (rates as fractions)')
    .action((opts: MetricsOptions) => {
      const tpr = Number(opts.tpr);
      if (!(tpr > 0 && tpr <= 1)) throw new AresError(`--tpr must be a number in (0, 1], got "${opts.tpr}"`, { exitCode: 2 });
      if (!(FPR_CONVENTIONS as readonly string[]).includes(opts.convention)) {
        throw new AresError(`--convention must be one of ${FPR_CONVENTIONS.join(', ')}, got "${opts.convention}"`, { exitCode: 2 });
      }
      const id = readScoreFile(opts.idScores);
      const ood = readScoreFile(opts.oodScores);
      const m = oodMetrics(id, ood, { tpr, convention: opts.convention as FprConvention });
      process.stdout.write(opts.json ? JSON.stringify(toJson(m)) + '\n' : toText(m));
    });
}

function toJson(m: OodMetrics): Record<string, number | string> {
  return {
    fpr: m.fpr, tpr: m.tpr, convention: m.convention, threshold: m.threshold, tpr_reached: m.tprReached,
    auroc: m.auroc, aupr_in: m.auprIn, aupr_out: m.auprOut, n_id: m.nId, n_ood: m.nOod,
  };
}

function toText(m: OodMetrics): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const fprName = `FPR${Math.round(m.tpr * 100)}`;
  return [
    `ID samples ${m.nId}, OOD samples ${m.nOod} (higher score = more in-distribution)`,
    `${fprName.padEnd(9)}${pct(m.fpr)}  (${m.convention} convention, threshold ${m.threshold}, TPR reached ${pct(m.tprReached)})`,
    `${'AUROC'.padEnd(9)}${pct(m.auroc)}`,
    `${'AUPR-In'.padEnd(9)}${pct(m.auprIn)}`,
    `${'AUPR-Out'.padEnd(9)}${pct(m.auprOut)}`,
    '',
  ].join('\n');
}
