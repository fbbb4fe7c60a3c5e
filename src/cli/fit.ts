import { InvalidArgumentError, Option, type Command } from 'commander';
import { SCORE_NAMES, type ScoreName } from '../eval/evaluate.js';
import { fit, type FitSummary } from '../fit/fit.js';
import { formatSelection } from '../eval/auto-score.js';
import { formatMetricsTable, int, list, num, parseScoresOrAuto, resizeOption } from './options.js';

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
    .requiredOption('--id <source>', 'in-distribution data the model was trained for: a folder of class sub-folders named by the model\'s labels or output indices (any subset of its classes), a flat folder of unlabelled images (labelled with the model\'s own predictions), mnist, fashion-mnist, ...')
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
    .addOption(resizeOption('how images of another size are fitted to the model: crop (scale + centre crop), stretch, or pad (fit inside, black margins); recorded in detector.json for predict and export (default: the model\'s own ares run\'s, else crop)'))
    .option('--mean <list>', 'per-channel mean in [0, 1] pixel units (with --std): the model sees (x − mean) / std', numbers)
    .option('--std <list>', 'per-channel std in [0, 1] pixel units (with --mean)', numbers)
    .addOption(new Option('--match <how>', 'pair ID classes with model outputs by name (metadata labels) or index').choices(['name', 'index']))
    .addOption(new Option('--unseen-classes <answer>', 'outputs the ID data has no images of: known (answered as their class when the score accepts) or unknown (always answered "unknown")')
      .choices(['known', 'unknown']).default('known'))
    .option('--id-classes <list>', 'keep only these classes of the ID source, e.g. 0,1,2,3,4,5 (the others become an OOD set)', list)
    .option('--limit <n>', 'use at most n ID training images (and n per test set)', int)
    .option('--seed <n>', 'random seed (data splits)', int, 0)
    .option('--batch-size <n>', 'images per forward pass (default: as many as keep a pass under 256 MiB of activations, at most 256)', int)
    .requiredOption('--out <dir>', 'run folder to write (new or empty)')
    .option('--json', 'print the summary and metrics as JSON')
    .action(async (o) => {
      const quiet = Boolean(o.json);
      const r = await fit(o.model, o.id, {
        ood: o.ood, idClasses: o.idClasses, limit: o.limit, seed: o.seed, scores: o.score, tpr: o.tpr,
        featuresLayer: o.features, inputShape: o.inputShape, inputRange: o.inputRange, mean: o.mean, std: o.std, resize: o.resize, match: o.match,
        unseenClasses: o.unseenClasses, out: o.out, batchSize: o.batchSize,
        onPhase: quiet ? undefined : (p) => process.stderr.write(`ares fit: ${p}\n`),
      });
      const s = r.summary;
      r.dispose();
      for (const w of s.warnings) process.stderr.write(`ares fit: warning: ${w}\n`);
      if (o.json) {
        process.stdout.write(JSON.stringify({
          out: o.out, format: s.format, logits: s.logitsDescription, featuresLayer: s.featuresLayer, featureDim: s.featureDim, inputShape: s.inputShape,
          normalization: s.normalization, normalizationSource: s.normalizationSource, resize: s.resize, resizeSource: s.resizeSource, classNames: s.classes.classNames, classMatch: s.classes.by,
          idLabels: s.idAccuracy === null ? 'model-predictions' : 'data', idAccuracy: s.idAccuracy, unseenClasses: s.unseenClasses, unseenPredictedShare: s.unseenPredictedShare,
          score: s.deployedScore, selection: s.selection, gamma: s.gamma, tpr: s.tpr, idValidationRejected: s.idValidationRejected, validationCount: s.validationCount,
          seconds: s.seconds, warnings: s.warnings, metrics: s.metrics,
        }) + '\n');
        return;
      }
      process.stdout.write([
        `logits:   ${s.logitsDescription}`,
        s.format === 'graph-model'
          ? (s.featuresLayer === '(none)' ? 'features: none (logit scores only)' : `features: output of graph node "${s.featuresLayer}" (d = ${s.featureDim})`)
          : `features: output of layer "${s.featuresLayer}" (d = ${s.featureDim})`,
        `input:    ${s.inputShape.join('×')}, ${s.normalizationSource}; resize: ${s.resize} (${s.resizeSource})`,
        ...classLines(s, o.unseenClasses),
        `γ = ${s.gamma.toPrecision(6)} (${s.deployedScore}): accepts ${pct(s.tpr)} of ID validation by construction; measured on ${s.validationCount} images: ${pct(s.idValidationRejected)} rejected`,
        formatMetricsTable(s.metrics, accuracyLine(s)),
        ...(s.selection ? [formatSelection(s.selection)] : []),
        `run folder: ${o.out}`,
      ].join('\n') + '\n');
    });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Which outputs had ID images, how they were labelled, and what the others answer. */
function classLines(s: FitSummary, asked: string): string[] {
  const { classes, unseenClasses } = s;
  const names = (ks: number[]) => ks.map((k) => classes.classNames[k]).join(', ');
  const seen = classes.order.flatMap((src, k) => (src >= 0 ? [k] : []));
  const K = classes.classNames.length;
  const lines = [classes.by === 'model-predictions'
    ? 'labels:   the model\'s own predictions (an unlabelled ID folder); ID accuracy not measured'
    : `classes:  ${seen.length === K ? `all ${K}` : `${seen.length} of ${K}`} with ID images: ${names(seen)} (matched by ${classes.by})`];
  if (classes.by === 'model-predictions') lines.push(`classes:  ${seen.length} of ${K} predicted on the ID images: ${names(seen)}`);
  if (unseenClasses) {
    const why = classes.by === 'model-predictions' ? 'never predicted on the ID training images' : 'no ID images';
    const answer = unseenClasses.answer === 'known' ? 'answered as their class when the score accepts' : 'always answered "unknown"';
    lines.push(`unseen:   ${names(unseenClasses.classes)}: ${why}, ${answer} (--unseen-classes ${unseenClasses.answer}); `
      + `${pct(s.unseenPredictedShare)} of the ID test images are predicted as one of them`);
  } else if (asked === 'unknown') {
    lines.push('unseen:   none (every output has ID images, so --unseen-classes unknown changes nothing)');
  }
  return lines;
}

function accuracyLine(s: FitSummary): string {
  return s.idAccuracy === null
    ? `ID accuracy: not measured (labels: the model's own predictions)`
    : `ID accuracy: ${pct(s.idAccuracy)} on ${s.idTestCount} ID test images`;
}
