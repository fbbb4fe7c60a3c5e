import type { Command } from 'commander';
import { join } from 'node:path';
import { initEngine } from '../engine/backend.js';
import { AresError } from '../errors.js';
import type { TrainConfig } from '../methods/config.js';
import { collectBenchmark, parseShard, readBenchmarkConfig, runBenchmark } from '../pipeline/benchmark.js';
import { runMetrics } from '../pipeline/run-folder.js';
import { holdsTrainingState } from '../pipeline/train-run.js';
import { describeOwner } from '../util/lock.js';
import { runWithProgress } from './train.js';

/** `--set key=value`: the value as JSON when it parses (numbers, booleans, lists), else the string. */
function parseSet(v: string, prev: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  const i = v.indexOf('=');
  if (i <= 0) throw new AresError(`--set expects key=value, got "${v}"`, { exitCode: 2 });
  const raw = v.slice(i + 1);
  let value: unknown;
  try { value = JSON.parse(raw); } catch { value = raw; }
  return { ...prev, [v.slice(0, i)]: value };
}

export function register(program: Command): void {
  program.command('benchmark')
    .description('train every (method × seed) of a config, evaluate every (score × OOD set), write results.json and paper-style tables')
    .requiredOption('--config <file>', 'benchmark config (JSON), e.g. configs/benchmark.json or configs/cifar10-paper.json')
    .option('--out <dir>', 'results folder (finished cells are reused; an interrupted benchmark resumes)', 'runs/benchmark')
    .option('--data-root <dir>', 'folder holding the datasets a config names as $DATA/... (e.g. the paper configs)')
    .option('--preset <name>', 'one of the config\'s "presets" (e.g. 40/100 or 80/200 in the paper configs)')
    .option('--set <key=value...>', 'override a training setting in every cell, e.g. --set epochs=2 pretrainEpochs=1 model=cnn limit=500', parseSet)
    .option('--shard <i/n>', 'train only every n-th cell, starting at cell i (0-based), e.g. from a job array; shards share --out', parseShard)
    .option('--collect', 'train nothing: write results.json and the tables from the cells finished in --out')
    .option('--json', 'print results.json-style cells as JSON lines')
    .action(async (o) => {
      const config = readBenchmarkConfig(o.config, { dataRoot: o.dataRoot, preset: o.preset, set: o.set });
      if (o.collect) {
        const { markdown, cells, missing } = collectBenchmark(config, o.out);
        process.stderr.write(`${cells.length} cell(s) finished, ${missing.length} not (yet)${missing.length ? `: ${missing.map((m) => `${m.entry.label} seed ${m.seed}`).join(', ')}` : ''}\n`);
        process.stdout.write('\n' + markdown + `\nresults: ${join(o.out, 'results.json')}, ${join(o.out, 'results.md')}\n`);
        return;
      }
      await initEngine();
      const { markdown, skipped } = await runBenchmark(config, o.out, {
        async runCell(cfg, dir, scores, _label, lock) {
          const r = await runWithProgress(cfg, dir, holdsTrainingState(dir), scores, Boolean(o.json), lock);
          return runMetrics(r);
        },
        onCell(cell, done, total) {
          const line = `[${done}/${total}] ${cell.label} seed ${cell.seed}: acc ${(100 * cell.metrics.idAccuracy).toFixed(2)}%`
            + `${cell.cached ? ' (cached)' : ` (${cell.seconds.toFixed(0)} s)`}`;
          if (o.json) process.stdout.write(JSON.stringify(cell) + '\n');
          else process.stderr.write(line + '\n');
        },
        onSkip(cell, holder) {
          process.stderr.write(`${cell.entry.label} seed ${cell.seed}: skipped, being trained by ${describeOwner(holder)}\n`);
        },
      }, { shard: o.shard });
      if (skipped.length) process.stderr.write(`${skipped.length} cell(s) were being trained elsewhere; run with --collect once they finish\n`);
      if (markdown && !o.json) process.stdout.write('\n' + markdown + `\nresults: ${join(o.out, 'results.json')}, ${join(o.out, 'results.md')}\n`);
      else if (!markdown) process.stderr.write(`shard ${o.shard.index}/${o.shard.count} done; write the tables with --collect\n`);
    });
}
