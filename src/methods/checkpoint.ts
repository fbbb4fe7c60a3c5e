import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassQueues } from './vos.js';
import { decodeBundle, encodeBundle, type NumericArray } from '../util/bundle.js';
import { writeFileAtomic } from '../util/fs.js';
import type { TrainConfig } from './config.js';
import type { FeaturePoolState } from '../ares/expansion.js';
import type { EpochRecord } from './train.js';

/**
 * What a run needs to continue exactly where it stopped, written at the end of every epoch.
 * Data order and every random draw derive from (seed, epoch, batch), so no generator state is kept.
 */
export interface Checkpoint {
  epochsDone: number;
  config: TrainConfig;
  /** Model variables in Classifier.allVariables order (batch-norm statistics included). */
  variables: Float32Array[];
  /** Method parameters beside the model (energy weights; VOS's regression). */
  extra: Float32Array[];
  /** Optimiser state (momentum buffers). */
  optimizer: Float32Array[];
  pool: FeaturePoolState | null;
  vosQueues: ClassQueues | null;
  history: EpochRecord[];
}

const KEEP = 2;
const fileOf = (dir: string, epoch: number) => join(dir, 'checkpoints', `epoch-${String(epoch).padStart(4, '0')}.ckpt`);

export function saveCheckpoint(runDir: string, c: Checkpoint): string {
  const arrays: Record<string, NumericArray> = {};
  c.variables.forEach((a, i) => { arrays[`var/${i}`] = a; });
  c.extra.forEach((a, i) => { arrays[`extra/${i}`] = a; });
  c.optimizer.forEach((a, i) => { arrays[`opt/${i}`] = a; });
  if (c.pool) {
    arrays['pool/data'] = c.pool.data; arrays['pool/shift'] = c.pool.shift;
    arrays['pool/sum'] = c.pool.sum; arrays['pool/sumSq'] = c.pool.sumSq;
  }
  if (c.vosQueues) {
    arrays['vos/data'] = c.vosQueues.data; arrays['vos/counts'] = c.vosQueues.counts; arrays['vos/next'] = c.vosQueues.next;
  }
  const meta = {
    epochsDone: c.epochsDone, config: c.config, history: c.history,
    counts: { variables: c.variables.length, extra: c.extra.length, optimizer: c.optimizer.length },
    pool: c.pool && { dim: c.pool.dim, capacity: c.pool.capacity, addsSinceExact: c.pool.addsSinceExact },
    vos: c.vosQueues && { numClasses: c.vosQueues.numClasses, dim: c.vosQueues.dim, capacity: c.vosQueues.capacity },
  };
  const file = fileOf(runDir, c.epochsDone);
  writeFileAtomic(file, encodeBundle(arrays, meta));
  // Older checkpoints are removed only after the new one is safely in place.
  for (const old of listCheckpoints(runDir).slice(0, -KEEP)) rmSync(fileOf(runDir, old), { force: true });
  return file;
}

function listCheckpoints(runDir: string): number[] {
  const dir = join(runDir, 'checkpoints');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^epoch-(\d+)\.ckpt$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The newest checkpoint of a run folder, or null when it has none. */
export function loadCheckpoint(runDir: string): Checkpoint | null {
  const epochs = listCheckpoints(runDir);
  if (epochs.length === 0) return null;
  const file = fileOf(runDir, epochs[epochs.length - 1]);
  const { arrays, meta } = decodeBundle(readFileSync(file), file);
  const m = meta as {
    epochsDone: number; config: TrainConfig; history: EpochRecord[];
    counts: { variables: number; extra: number; optimizer: number };
    pool: { dim: number; capacity: number; addsSinceExact: number } | null;
    vos: { numClasses: number; dim: number; capacity: number } | null;
  };
  const list = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => arrays[`${prefix}/${i}`] as Float32Array);
  return {
    epochsDone: m.epochsDone, config: m.config, history: m.history,
    variables: list('var', m.counts.variables), extra: list('extra', m.counts.extra), optimizer: list('opt', m.counts.optimizer),
    pool: m.pool && {
      ...m.pool, data: arrays['pool/data'] as Float32Array, shift: arrays['pool/shift'] as Float64Array,
      sum: arrays['pool/sum'] as Float64Array, sumSq: arrays['pool/sumSq'] as Float64Array,
    },
    vosQueues: m.vos && {
      ...m.vos, data: arrays['vos/data'] as Float32Array, counts: arrays['vos/counts'] as Int32Array, next: arrays['vos/next'] as Int32Array,
    },
  };
}
