import { InvalidArgumentError, Option, type Command } from 'commander';
import { SCORE_NAMES, type ScoreName } from '../eval/evaluate.js';
import { fit } from '../fit/fit.js';
import { formatSelection } from '../eval/auto-score.js';
import { formatMetricsTable, int, list, num, parseScoresOrAuto } from './options.js';

const numbers = (v: string) => v.split(',').map((s) => num(s.trim()));

function range(v: string): [number, number] {
  const r = numbers(v);
  if (r.length !== 2 || !(r[1] > r[0])) throw new InvalidArgumentError('expected low,high with low < high, e.g. 0,1 or -1,1 or 0,255');
  return [r[0], r[1]];
}

/** `ares fit --model model.json --id <source>`: "unknown" for a classifier the user already has. */
export function register(program: Command): void {
  program.command('fit')
    .description('fit OOD scores and the threshold γ on a TensorFlow.js classifier you already have (model.json, e.g. a Teachable Machine export) and write a run folder')
    .requiredOption('--model <path>', 'tfjs layers or graph model: model.json (or its folder); metadata.json beside it gives class labels (Teachable Machine)')
    .requiredOption('--id <source>', 'in-distribution data the model was trained for: a folder of class sub-folders, mnist, fashion-mnist, ...')
    .option('--ood <source...>', 'OOD test sets to evaluate (e.g. gaussian uniform)', [])
    .option('--features <layer>', 'layer (graph model: node) whose output is the features (default: the input of the last Dense layer, or of the MatMul giving the logits)')
    .option('--score <names>', `auto (default: fit every score but odin, deploy the one a written rule picks on validation data; docs/validation-protocol.md), or scores to fit: ${SCORE_NAMES.join(', ')} or all; the first one but odin is deployed`, parseScoresOrAuto, ['auto'] as (ScoreName | 'auto')[])
    .option('--tpr <x>', 'share of ID validation images γ accepts (the operating point)', num, 0.95)
    .option('--input-range <low,high>', 'pixel range the model expects (0,1, -1,1, 0,255); default 0,1, or -1,1 for Teachable Machine', range)
    .option('--input-shape <h,w,c>', 'image shape, for a model whose input is a flat vector (e.g. 28,28,1 for 784 values)', (v: string) => {
      const d = v.split(',').map((x) => Number(x.trim()));
      if (d.length !== 3 || !d.every((n) => Number.isInteger(n) && n > 0)) throw new InvalidArgumentError('expected height,width,channels, e.g. 28,28,1');
      return d as [number, number, number];
    })
    .option('--mean <list>', 'per-channel mean in [0, 1] pixel units (with --std): the model sees (x − mean) / std', numbers)
    .option('--std <list>', 'per-channel std in [0, 1] pixel units (with --mean)', numbers)
    .addOption(new Option('--match <how>', 'pair ID classes with model outputs by name (metadata labels) or index').choices(['name', 'index']))
    .option('--id-classes <list>', 'keep only these ID classes, e.g. 0,1,2,3,4,5 (the others become an OOD set)', list)
    .option('--limit <n>', 'use at most n ID training images (and n per test set)', int)
    .option('--seed <n>', 'random seed (data splits)', int, 0)
    .requiredOption('--out <dir>', 'run folder to write (new or empty)')
    .option('--json', 'print the summary and metrics as JSON')
    .action(async (o) => {
      const quiet = Boolean(o.json);
      const r = await fit(o.model, o.id, {
        ood: o.ood, idClasses: o.idClasses, limit: o.limit, seed: o.seed, scores: o.score, tpr: o.tpr,
        featuresLayer: o.features, inputShape: o.inputShape, inputRange: o.inputRange, mean: o.mean, std: o.std, match: o.match, out: o.out,
        onPhase: quiet ? undefined : (p) => process.stderr.write(`ares fit: ${p}\n`),
      });
      const s = r.summary;
      r.dispose();
      for (const w of s.warnings) process.stderr.write(`ares fit: warning: ${w}\n`);
      if (o.json) {
        process.stdout.write(JSON.stringify({
          out: o.out, format: s.format, logits: s.logitsDescription, featuresLayer: s.featuresLayer, featureDim: s.featureDim, inputShape: s.inputShape,
          normalization: s.normalization, normalizationSource: s.normalizationSource, classNames: s.classes.classNames, classMatch: s.classes.by,
          score: s.deployedScore, selection: s.selection, gamma: s.gamma, tpr: s.tpr, idValidationRejected: s.idValidationRejected, validationCount: s.validationCount,
          seconds: s.seconds, warnings: s.warnings, metrics: s.metrics,
        }) + '\n');
        return;
      }
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
      process.stdout.write([
        `logits:   ${s.logitsDescription}`,
        s.format === 'graph-model'
          ? (s.featuresLayer === '(none)' ? 'features: none (logit scores only)' : `features: output of graph node "${s.featuresLayer}" (d = ${s.featureDim})`)
          : `features: output of layer "${s.featuresLayer}" (d = ${s.featureDim})`,
        `input:    ${s.inputShape.join('×')}, ${s.normalizationSource}`,
        `classes:  ${s.classes.classNames.join(', ')} (matched by ${s.classes.by})`,
        `γ = ${s.gamma.toPrecision(6)} (${s.deployedScore}): accepts ${pct(s.tpr)} of ID validation by construction; measured on ${s.validationCount} images: ${pct(s.idValidationRejected)} rejected`,
        formatMetricsTable(s.metrics),
        ...(s.selection ? [formatSelection(s.selection)] : []),
        `run folder: ${o.out}`,
      ].join('\n') + '\n');
    });
}
