import { Command, Option } from 'commander';
import { DEFAULT_CONFIG, DIVERGENCE_FORMS, DISCRIMINATION_LOSSES, ESTIMATION_SOURCES, METHODS, type TrainConfig } from '../methods/config.js';
import { SCORE_NAMES, type ScoreName } from '../eval/evaluate.js';
import { MODEL_NAMES } from '../models/index.js';
import { AUGMENT_MODES } from '../data/augment.js';
import { resolveConfig, trainRun, type TrainRunResult } from '../pipeline/train-run.js';
import { runMetrics } from '../pipeline/run-folder.js';
import { AresError } from '../errors.js';
import type { Lock } from '../util/lock.js';
import { createProgress } from './progress.js';
import { formatSelection } from '../eval/auto-score.js';
import { formatMetricsTable, int, list, num, parseScoresOrAuto, resizeOption } from './options.js';

export function register(program: Command): void {
  program.command('train')
    .description('train a classifier with ARES or a baseline method, evaluate it and write a run folder')
    .requiredOption('--id <source>', 'in-distribution data: mnist, fashion-mnist, a file or folder path')
    .option('--ood <source...>', 'OOD test sets evaluated at the end (e.g. mnist gaussian uniform)', [])
    .option('--val-ood <sources>', 'validation OOD set(s), comma-separated (for choosing defaults only; pixel-permuted, patch-shuffled, blurred are made from the ID validation split)', sourceList, DEFAULT_CONFIG.valOod)
    .addOption(new Option('--method <m>', 'training method: ares; baselines ce, pixmix-only (CE on PixMix images), vos; logitnorm (CE on logits scaled to norm 1/τ, --logitnorm-tau); rotation (CE + λ·4-way rotation-prediction loss of an auxiliary head, --rotation-weight; adds the rotpred score); pixmix-logitnorm and pixmix-rotation train the same losses on PixMix images').choices(METHODS).default(DEFAULT_CONFIG.method))
    .addOption(new Option('--model <name>', 'network').choices(MODEL_NAMES).default(DEFAULT_CONFIG.model))
    .option('--epochs <n>', 'training epochs (for ares and pixmix-only, twice the CE schedule halves their ID-accuracy gap to CE: docs/results-verdict.md)', int, DEFAULT_CONFIG.epochs)
    .option('--pretrain-epochs <n>', 'CE-only epochs before the outlier loss', int, DEFAULT_CONFIG.pretrainEpochs)
    .option('--seed <n>', 'random seed', int, DEFAULT_CONFIG.seed)
    .option('--limit <n>', 'use at most n training images', int)
    .option('--id-classes <list>', 'keep only these ID classes, e.g. 0,1,2,3,4,5 (the others become an OOD set)', list)
    .option('--batch-size <n>', 'batch size', int, DEFAULT_CONFIG.batchSize)
    .addOption(new Option('--augment <mode>', 'augmentation of training batches: pad-4 random crop + horizontal flip, or none; auto = crop-flip for RGB images of 32×32 and larger, none for grey or smaller (the run records what auto became)').choices(AUGMENT_MODES).default(DEFAULT_CONFIG.augment))
    .addOption(resizeOption('how images of another size are fitted to the model (image folders of mixed sizes, sets resized to the model): crop (scale + centre crop), stretch, or pad (fit inside, black margins); recorded in detector.json for predict and export (default: crop)'))
    .option('--lr <x>', 'initial learning rate (cosine decay per step)', num, DEFAULT_CONFIG.lr)
    .addOption(new Option('--divergence <form>', 'how the inlier/outlier energy divergence enters the loss').choices(DIVERGENCE_FORMS).default(DEFAULT_CONFIG.divergence))
    .addOption(new Option('--loss <l>', 'discrimination loss (paper Table 3)').choices(DISCRIMINATION_LOSSES).default(DEFAULT_CONFIG.loss))
    .option('--beta <x>', 'weight β of the discrimination loss', num, DEFAULT_CONFIG.beta)
    .addOption(new Option('--estimation-source <s>', 'virtual outliers: draws from the pool\'s Gaussian (sampler) or its least likely pool instances (pool)').choices(ESTIMATION_SOURCES).default(DEFAULT_CONFIG.estimationSource))
    .option('--estimation-scale <τ>', 'the sampler draws from N(μ, τ²Σ)', num, DEFAULT_CONFIG.estimationScale)
    .option('--logitnorm-tau <τ>', 'logitnorm methods: temperature τ of CE(f / (τ‖f‖)) (0.04: the paper\'s CIFAR-10 value)', num, DEFAULT_CONFIG.logitNormTau)
    .option('--rotation-weight <λ>', 'rotation methods: weight λ of the rotation loss in CE + λ·CE_rot', num, DEFAULT_CONFIG.rotationWeight)
    .option('--label-smoothing <ε>', 'label smoothing of every method\'s classification cross-entropy: targets (1 − ε)·onehot + ε/K (0: plain cross-entropy)', num, DEFAULT_CONFIG.labelSmoothing)
    .option('--pixmix-beta <β>', 'PixMix (ares, pixmix-* methods): β of the mixing weights; the image keeps a ~ Beta(β, 1), so a larger β mixes less', num, DEFAULT_CONFIG.pixmixBeta)
    .option('--pixmix-rounds <k>', 'PixMix (ares, pixmix-* methods): each image gets 1..k mixing rounds', int, DEFAULT_CONFIG.pixmixRounds)
    .option('--ensemble <k>', 'train k models (seeds seed..seed+k−1, same data split) and evaluate them as one: mean logits and features, so every score reads the ensemble (model/ holds it)', int)
    .option('--no-escape', 'ablation: no PixMix (Escape stage)')
    .option('--no-expansion', 'ablation: no feature mixup (Expansion stage)')
    .option('--no-estimation', 'ablation: random pool samples instead of lowest likelihood (Estimation stage)')
    .option('--init <model.json>', 'start from these weights (a run\'s model/model.json, or a tfjs layers model of the same architecture)')
    .option('--freeze <layer>', 'with --init: keep the layers up to and including this one fixed (names as in the --init model.json)')
    .option('--tpr <x>', 'share of ID validation images the threshold γ accepts (the operating point)', num, DEFAULT_CONFIG.tpr)
    .option('--score <names>', `auto (default: evaluate every score but odin and deploy the one a written rule picks on validation data; docs/validation-protocol.md), or scores to evaluate: ${SCORE_NAMES.join(', ')} or all (energy is deployed)`, parseScoresOrAuto, ['auto'] as (ScoreName | 'auto')[])
    .option('--out <dir>', 'run folder', 'runs/latest')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--json', 'print the final metrics as JSON')
    .action(async (o, cmd: Command) => {
      // On --resume without --score, the run evaluates the scores it was started with.
      const scores: (ScoreName | 'auto')[] | undefined = cmd.getOptionValueSource('score') === 'default' && o.resume ? undefined : o.score;
      const cfg = resolveConfig({
        id: o.id, ood: o.ood, valOod: o.valOod, method: o.method, model: o.model, epochs: o.epochs,
        pretrainEpochs: o.pretrainEpochs, seed: o.seed, limit: o.limit, idClasses: o.idClasses, batchSize: o.batchSize, augment: o.augment, resize: o.resize,
        lr: o.lr, divergence: o.divergence, loss: o.loss, beta: o.beta,
        estimationSource: o.estimationSource, estimationScale: o.estimationScale,
        escape: o.escape, expansion: o.expansion, estimation: o.estimation, tpr: o.tpr, init: o.init, freeze: o.freeze,
        logitNormTau: o.logitnormTau, rotationWeight: o.rotationWeight, ensemble: o.ensemble,
        labelSmoothing: o.labelSmoothing, pixmixBeta: o.pixmixBeta, pixmixRounds: o.pixmixRounds,
      } satisfies Partial<TrainConfig> & { id: string });
      const result = await runWithProgress(cfg, o.out, Boolean(o.resume), scores, Boolean(o.json));
      if (!result.evaluation) throw new AresError('training stopped before its last epoch');
      for (const w of result.evaluation.warnings) process.stderr.write(`ares train: warning: ${w}\n`);
      const selection = result.evaluation.selection;
      if (o.json) process.stdout.write(JSON.stringify({ ...runMetrics(result), ...(selection ? { selection } : {}), out: o.out }) + '\n');
      else process.stdout.write(`\n${formatMetricsTable(runMetrics(result))}\n${selection ? `${formatSelection(selection)}\n` : ''}run folder: ${o.out}\n`);
    });
}

/** Trains with a progress bar on stderr (so --json output on stdout stays clean). */
export async function runWithProgress(cfg: TrainConfig, out: string, resume: boolean, requested: (ScoreName | 'auto')[] | undefined, quiet = false, lock?: Lock): Promise<TrainRunResult> {
  // undefined (a resume without --score): the run folder's marker says what the run was started with.
  const scores = requested?.filter((s): s is ScoreName => s !== 'auto');
  // Energy, the score the training methods shape, stays in a trained run's metrics beside auto's pick.
  if (requested?.includes('auto') && scores!.length === 0) scores!.push('energy');
  const progress = createProgress(`${cfg.method}/${cfg.model} seed ${cfg.seed}`, quiet);
  try {
    return await trainRun(cfg, {
      out, resume, scores, auto: requested?.includes('auto'), lock,
      onPhase: (p) => progress.phase(p),
      onStep: (s) => progress.step(s),
      onEpoch: (e) => progress.epoch(e),
    });
  } finally {
    progress.stop();
  }
}

/** "a,b" -> ["a", "b"]; one name stays a string, as configs written before lists were allowed have it. */
function sourceList(v: string): string | string[] {
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  return names.length === 1 ? names[0] : names;
}
