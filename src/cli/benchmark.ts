import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../engine/backend.js';
import { readBenchmarkConfig, runBenchmark } from '../pipeline/benchmark.js';
import { runMetrics } from '../pipeline/run-folder.js';
import { runWithProgress } from './train.js';

export function register(program: Command): void {
  program.command('benchmark')
    .description('train every (method × seed) of a config, evaluate every (score × OOD set), write results.json and paper-style tables')
    .requiredOption('--config <file>', 'benchmark config (JSON), e.g. configs/benchmark.json')
    .option('--out <dir>', 'results folder (finished cells are reused; an interrupted benchmark resumes)', 'runs/benchmark')
    .option('--json', 'print results.json-style cells as JSON lines')
    .action(async (o) => {
      await initEngine();
      const config = readBenchmarkConfig(o.config);
      const { markdown } = await runBenchmark(config, o.out, {
        async runCell(cfg, dir, scores) {
          const r = await runWithProgress(cfg, dir, existsSync(join(dir, 'checkpoints')), scores, Boolean(o.json));
          return runMetrics(r);
        },
        onCell(cell, done, total) {
          const line = `[${done}/${total}] ${cell.label} seed ${cell.seed}: acc ${(100 * cell.metrics.idAccuracy).toFixed(2)}%`
            + `${cell.cached ? ' (cached)' : ` (${cell.seconds.toFixed(0)} s)`}`;
          if (o.json) process.stdout.write(JSON.stringify(cell) + '\n');
          else process.stderr.write(line + '\n');
        },
      });
      if (!o.json) process.stdout.write('\n' + markdown + `\nresults: ${join(o.out, 'results.json')}, ${join(o.out, 'results.md')}\n`);
    });
}
