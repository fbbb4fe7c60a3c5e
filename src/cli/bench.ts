import type { Command } from 'commander';
import { initEngine } from '../engine/backend.js';
import { BENCH_DEFAULTS, formatBench, formatProfile, profileBench, runBench } from '../bench/index.js';
import { int } from './options.js';

export function register(program: Command): void {
  program.command('bench')
    .description('time full steps (median after warm-up) of a model and method on the current backend: a training step, '
      + 'or with --method infer an inference pass')
    .option('--model <name>', 'cnn, resnet18, wrn40-2 or mobilenetv2 (224x224x3, 1000 classes, as torchvision\'s)', 'cnn')
    .option('--method <name>', 'ce (training step, cross-entropy), ares (the full ARES step: Escape, Expansion, Estimation, '
      + 'Divergence; not for mobilenetv2), infer (forward pass in inference mode with readback of the logits; for mobilenetv2 '
      + 'with batch norm folded into the convolutions, as a converted TensorFlow model runs), infer-layers (mobilenetv2: the '
      + 'same through tfjs-layers, batch norm unfolded), or ce-frozen (mobilenetv2: cross-entropy step of the classifier head '
      + 'on a frozen backbone)', 'ce')
    .option('--steps <n>', 'timed steps (with --profile: profiled steps)', int, BENCH_DEFAULTS.steps)
    .option('--warmup <n>', 'untimed steps before timing', int, BENCH_DEFAULTS.warmup)
    .option('--batch <n>', 'batch size', int, BENCH_DEFAULTS.batch)
    .option('--seed <n>', 'seed of the model and the batch', int, BENCH_DEFAULTS.seed)
    .option('--threads <n>', 'threads for the wasm backend (default: every core; env ARES_THREADS)', int)
    .option('--profile', 'print the per-op time of a step instead: kernel times summed by kernel name and, for convolutions, by kind '
      + '(filter size, stride, Winograd or not; dX and dW for the gradients)')
    .option('--json', 'print one JSON object per line')
    .action(async (o) => {
      if (o.threads !== undefined) process.env.ARES_THREADS = String(o.threads);
      await initEngine();
      const opts = { model: o.model, method: o.method, batch: o.batch, steps: o.steps, warmup: o.warmup, seed: o.seed };
      if (o.profile) {
        const p = await profileBench(opts);
        process.stdout.write((o.json ? JSON.stringify(p) : formatProfile(p)) + '\n');
        return;
      }
      const r = await runBench(opts);
      process.stdout.write((o.json ? JSON.stringify(r) : formatBench(r)) + '\n');
    });
}
