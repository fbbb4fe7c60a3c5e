/**
 * Writes a small data root laid out as configs/cifar10-paper.json and cifar100-paper.json expect
 * (CIFAR binary files and the five OOD image folders, generated: no download), for trying a paper
 * cell end to end, e.g. on --backend webgpu. The images are synthetic; no number from them says
 * anything about OOD detection.
 *
 *   npx tsx scripts/make-paper-data.ts <folder> [train images, default 40]
 */
import { writePaperDataRoot } from '../test/pipeline/paper-data.js';

const [dir, train = '40'] = process.argv.slice(2);
if (!dir || !(Number(train) > 0)) {
  process.stderr.write('usage: make-paper-data.ts <folder> [train images]\n');
  process.exit(2);
}
await writePaperDataRoot(dir, { train: Number(train), test: 10, ood: 4 });
process.stderr.write(`wrote a paper-layout data root in ${dir}\n`);
