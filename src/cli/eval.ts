import type { Command } from 'commander';
import { rmSync } from 'node:fs';
import { initEngine } from '../engine/backend.js';
import { AresError } from '../errors.js';
import { InvalidArgumentError } from 'commander';
import { detectorWithScore, evaluateAsync, SCORE_NAMES, type ScoreName } from '../eval/evaluate.js';
import { scoreArraysOf } from '../eval/score-arrays.js';
import { claimRunFolder, writeRun } from '../run/folder.js';
import { loadRun } from '../pipeline/load-run.js';
import { prepareForConfig } from '../pipeline/train-run.js';
import { metricRow, type RunMetrics } from '../pipeline/run-folder.js';
import { formatSelection, LOGIT_CANDIDATES } from '../eval/auto-score.js';
import { formatMetricsTable, int, parseScores } from './options.js';
import { isLogitScoreName } from '../scores/types.js';

export function register(program: Command): void {
  program.command('eval')
    .description('evaluate a trained run on OOD sets with one or more scores (one forward pass serves all but ODIN)')
    .requiredOption('--run <dir>', 'run folder written by `ares train`')
    .option('--ood <source...>', 'OOD sets (default: the run\'s own)')
    .option('--score <names>', `${SCORE_NAMES.join(', ')} (comma-separated) or all`, parseScores, ['energy'] as ScoreName[])
    .option('--detector <name>', 'also store this score (fitted on the run\'s ID training data, γ on its ID validation data) as the run\'s detector.json, which predict and export use; auto: the one the --score auto rule picks on validation data (docs/validation-protocol.md)', parseDetectorName)
    .option('--batch-size <n>', 'images per forward pass (default: as many as keep a pass under 256 MiB of activations, at most 256)', positiveInt)
    .option('--json', 'print the metrics as JSON')
    .action(async (o) => {
      // --detector rewrites detector.json: only in a folder that is a run folder of ours.
      if (o.detector) claimRunFolder(o.run, '--run');
      const engine = await initEngine();
      const run = await loadRun(o.run);
      // Images are fitted to the model as the run's detector.json says (predict and export do the same).
      const cfg = { ...run.config, ood: o.ood ?? run.config.ood, resize: run.detector.resize };
      const data = await prepareForConfig(cfg);
      // Learned w_k (ares, vos) are in the energy score, or kept beside another stored score.
      const w = run.detector.score.name === 'energy' ? run.detector.score.weights : run.detector.energyWeights;
      const energyWeights = w ? Float32Array.from(w) : null;
      const auto = o.detector === 'auto';
      const scores: ScoreName[] = o.detector && !auto && !o.score.includes(o.detector) ? [...o.score, o.detector] : o.score;
      const needing = scores.filter((s) => s !== 'odin' && s !== 'rotpred' && !isLogitScoreName(s));
      if (run.detector.model?.features === null && needing.length > 0) {
        throw new AresError(`the run's graph model has no features node, which ${needing.join(', ')} read; fit it again with --features <node>`, { file: run.folder.paths.detector, exitCode: 2 });
      }
      const e = await evaluateAsync(run.model, { ...data, normalization: run.detector.normalization }, {
        scores, energyWeights, tpr: run.detector.threshold.tpr, auto, seed: cfg.seed, batchSize: o.batchSize,
        ...(run.detector.model?.features === null ? { autoCandidates: LOGIT_CANDIDATES } : {}),
      });
      for (const w of e.warnings) process.stderr.write(`ares eval: warning: ${w}\n`);
      const stored: ScoreName | undefined = auto ? e.selection!.chosen : o.detector;
      if (stored) {
        // The stored score arrays follow the detector, so the report and the exported page's
        // histogram show the score that answers (they were the earlier detector's before).
        await writeRun(o.run, {
          detector: detectorWithScore(run.detector, e, stored, energyWeights), thresholdCount: data.val.count,
          artifacts: { scores: scoreArraysOf(e, stored) },
          ...(e.selection ? { selection: e.selection } : {}),
        });
        // A named score replaces an earlier auto pick: its record no longer describes detector.json.
        if (!auto) rmSync(run.folder.paths.selection, { force: true });
      }
      const row = (x: (typeof e.ood)[number]) => metricRow(x.ood, x.score, x.metrics);
      const metrics: RunMetrics = {
        method: cfg.method, model: cfg.model, seed: cfg.seed, backend: engine.backend, idAccuracy: e.accuracy, tpr: e.tpr,
        thresholds: e.thresholds, rows: e.ood.map(row), validationRows: e.valOod.map(row), trainSeconds: 0,
      };
      process.stdout.write(o.json ? JSON.stringify({ ...metrics, ...(e.selection ? { selection: e.selection } : {}) }) + '\n' : formatMetricsTable(metrics) + '\n');
      if (e.selection && !o.json) process.stdout.write(formatSelection(e.selection) + '\n');
      if (stored && !o.json) process.stdout.write(`detector.json now uses ${stored} (γ = ${e.thresholds[stored].toPrecision(6)} at TPR ${e.tpr} on ID validation data)\n`);
    });
}

function positiveInt(v: string): number {
  const n = int(v);
  if (n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
}

function parseDetectorName(v: string): ScoreName | 'auto' {
  if (v === 'auto') return v;
  if (v === 'odin') throw new InvalidArgumentError('odin cannot be stored as the detector (it needs gradients at prediction time)');
  if (v === 'rotpred') throw new InvalidArgumentError('rotpred cannot be stored as the detector (predict and export run one forward pass per image, rotpred four)');
  if (!(SCORE_NAMES as readonly string[]).includes(v)) throw new InvalidArgumentError(`unknown score "${v}"; choose from ${SCORE_NAMES.filter((n) => n !== 'odin' && n !== 'rotpred').join(', ')}`);
  return v as ScoreName;
}
