import { Option, type Command } from 'commander';
import type { ResizeMode } from '../data/input-contract.js';
import { predictFiles } from '../run/predict.js';
import { parseResizeFlag, resizeOption } from './options.js';

/** `ares predict --run DIR <images or folders...>`: the class of each image, or "unknown". */
export function register(program: Command): void {
  program.command('predict')
    .description('classify PNG/JPEG images with a trained run: the class, or "unknown" when the score is below the run\'s threshold γ')
    .requiredOption('--run <dir>', 'run folder (from ares train)')
    .argument('<inputs...>', 'image files or folders (folders: their .png/.jpg/.jpeg files, recursively)')
    .option('--json', 'print {run, gamma, score, predictions: [{file, label, classIndex, score, accepted}]} as JSON')
    .addOption(resizeOption('how images are fitted to the model: crop, stretch or pad (default: the run\'s, from its detector.json)'))
    // The name before --resize (cover = crop, fill = stretch); kept so existing scripts run.
    .addOption(new Option('--fit <mode>').hideHelp().argParser(parseResizeFlag))
    .option('--probabilities', 'also give the softmax probabilities (with --json)')
    .action(async (inputs: string[], o: { run: string; json?: boolean; resize?: ResizeMode; fit?: ResizeMode; probabilities?: boolean }) => {
      const r = await predictFiles(o.run, inputs, { resize: o.resize ?? o.fit, probabilities: o.probabilities });
      if (o.json) {
        const { gamma, tpr } = r.detector.threshold;
        process.stdout.write(JSON.stringify({ run: r.run, score: r.detector.score.name, gamma, tpr, predictions: r.predictions }, null, 2) + '\n');
        return;
      }
      const width = Math.max(...r.predictions.map((p) => p.file.length));
      for (const p of r.predictions) {
        process.stdout.write(`${p.file.padEnd(width)}  ${p.label.padEnd(8)}  ${p.score.toFixed(4)}\n`);
      }
    });
}
