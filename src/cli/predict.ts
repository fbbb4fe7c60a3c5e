import { InvalidArgumentError, type Command } from 'commander';
import { predictFiles } from '../run/predict.js';

/** `ares predict --run DIR <images or folders...>`: the class of each image, or "unknown". */
export function register(program: Command): void {
  program.command('predict')
    .description('classify PNG/JPEG images with a trained run: the class, or "unknown" when the score is below the run\'s threshold γ')
    .requiredOption('--run <dir>', 'run folder (from ares train)')
    .argument('<inputs...>', 'image files or folders (folders: their .png/.jpg/.jpeg files, recursively)')
    .option('--json', 'print {run, gamma, score, predictions: [{file, label, classIndex, score, accepted}]} as JSON')
    .option('--fit <fit>', 'resize: cover (scale + centre crop, as image-folder data; default) or fill (stretch)', (v: string) => {
      if (v !== 'cover' && v !== 'fill') throw new InvalidArgumentError('expected cover or fill');
      return v;
    })
    .option('--probabilities', 'also give the softmax probabilities (with --json)')
    .action(async (inputs: string[], o: { run: string; json?: boolean; fit?: 'cover' | 'fill'; probabilities?: boolean }) => {
      const r = await predictFiles(o.run, inputs, { fit: o.fit, probabilities: o.probabilities });
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
