import type { Command } from 'commander';
import { initEngine } from '../engine/backend.js';
import { BENCH_DEFAULTS, formatBench, runBench } from '../bench/index.js';
import { int } from './options.js';

export function register(program: Command): void {
  program.command('bench')
    .description('time full training steps (median after warm-up) of a model and training method on the current backend')
    .option('--model <name>', 'cnn, resnet18 or wrn40-2', 'cnn')
    .option('--method <name>', 'training method: ce or ares (the full ARES step: Escape, Expansion, Estimation, Divergence)', 'ce')
    .option('--steps <n>', 'timed steps', int, BENCH_DEFAULTS.steps)
    .option('--warmup <n>', 'untimed steps before timing', int, BENCH_DEFAULTS.warmup)
    .option('--batch <n>', 'batch size', int, BENCH_DEFAULTS.batch)
    .option('--seed <n>', 'seed of the model and the batch', int, BENCH_DEFAULTS.seed)
    .option('--threads <n>', 'threads for the wasm backend (default: every core; env ARES_THREADS)', int)
    .option('--json', 'print one JSON object per line')
    .action(async (o) => {
      if (o.threads !== undefined) process.env.ARES_THREADS = String(o.threads);
      await initEngine();
      const r = await runBench({ model: o.model, method: o.method, batch: o.batch, steps: o.steps, warmup: o.warmup, seed: o.seed });
      process.stdout.write((o.json ? JSON.stringify(r) : formatBench(r)) + '\n');
    });
}
