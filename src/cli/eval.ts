import type { Command } from 'commander';
import { initEngine } from '../engine/backend.js';
import { evaluate, type ScoreName } from '../eval/evaluate.js';
import { loadRun } from '../pipeline/load-run.js';
import { prepareForConfig } from '../pipeline/train-run.js';
import { metricRow, type RunMetrics } from '../pipeline/run-folder.js';
import { formatMetricsTable, parseScores } from './options.js';

export function register(program: Command): void {
  program.command('eval')
    .description('evaluate a trained run on OOD sets with one or more scores (one forward pass serves all but ODIN)')
    .requiredOption('--run <dir>', 'run folder written by `ares train`')
    .option('--ood <source...>', 'OOD sets (default: the run\'s own)')
    .option('--score <names>', 'energy, msp, odin, mahalanobis (comma-separated) or all', parseScores, ['energy'] as ScoreName[])
    .option('--json', 'print the metrics as JSON')
    .action(async (o) => {
      const engine = await initEngine();
      const run = await loadRun(o.run);
      const cfg = { ...run.config, ood: o.ood ?? run.config.ood };
      const data = await prepareForConfig(cfg);
      const energyWeights = run.detector.score.name === 'energy' && run.detector.score.weights ? Float32Array.from(run.detector.score.weights) : null;
      const e = evaluate(run.model, { ...data, normalization: run.detector.normalization }, { scores: o.score, energyWeights, tpr: run.detector.threshold.tpr });
      const row = (x: (typeof e.ood)[number]) => metricRow(x.ood, x.score, x.metrics);
      const metrics: RunMetrics = {
        method: cfg.method, model: cfg.model, seed: cfg.seed, backend: engine.backend, idAccuracy: e.accuracy, tpr: e.tpr,
        thresholds: e.thresholds, rows: e.ood.map(row), validationRows: e.valOod.map(row), trainSeconds: 0,
      };
      process.stdout.write(o.json ? JSON.stringify(metrics) + '\n' : formatMetricsTable(metrics) + '\n');
    });
}
