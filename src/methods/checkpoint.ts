import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { AresError } from '../errors.js';
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
  /** The file it was read from (loadCheckpoint), for messages. */
  file?: string;
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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const KIND_NAMES = new Map<unknown, string>([[Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32']]);

/**
 * The checkpoint's metadata checked against the arrays the file really holds: every count and size
 * the header claims must be backed by arrays in the file, so a doctored header is refused before
 * anything is allocated for it.
 */
function checkpointOfBundle(arrays: Record<string, NumericArray>, meta: unknown, file: string): Checkpoint {
  const bad = (why: string) => new AresError(`not a valid checkpoint: ${why}`, { file });
  if (!isObject(meta)) throw bad('no metadata');
  if (!isCount(meta.epochsDone)) throw bad('"epochsDone" must be a non-negative integer');
  if (!isObject(meta.config)) throw bad('"config" must be an object');
  if (!Array.isArray(meta.history) || !meta.history.every(isObject)) throw bad('"history" must be a list of epoch records');
  const stored = Object.keys(arrays).length;
  const array = <T extends NumericArray>(name: string, Ctor: new (n: number) => T): T => {
    const a = arrays[name];
    if (!(a instanceof Ctor)) throw bad(`array "${name}" is ${a ? `${KIND_NAMES.get(a.constructor)}, expected ${KIND_NAMES.get(Ctor)}` : 'missing'}`);
    return a;
  };
  const counts = meta.counts;
  if (!isObject(counts)) throw bad('"counts" must be an object');
  const list = (prefix: string, key: string) => {
    const n = counts[key];
    // More arrays than the file stores cannot be right: refuse before allocating a list for them.
    if (!isCount(n) || n > stored) throw bad(`"counts.${key}" is ${JSON.stringify(n)}; the file stores ${stored} arrays`);
    return Array.from({ length: n }, (_, i) => array(`${prefix}/${i}`, Float32Array));
  };
  const variables = list('var', 'variables');
  const extra = list('extra', 'extra');
  const optimizer = list('opt', 'optimizer');

  let pool: FeaturePoolState | null = null;
  if (meta.pool !== null && meta.pool !== undefined) {
    const p = meta.pool;
    if (!isObject(p) || !isCount(p.dim) || p.dim < 1 || !isCount(p.capacity) || p.capacity < 1 || !isCount(p.addsSinceExact)) {
      throw bad('"pool" must give a positive integer dim and capacity, and addsSinceExact');
    }
    // The pool allocates capacity × dim values: the capacity is the run's setting, never the file's word alone.
    if (p.capacity !== meta.config.poolSize) throw bad(`"pool.capacity" ${p.capacity} differs from the config's poolSize ${JSON.stringify(meta.config.poolSize)}`);
    const data = array('pool/data', Float32Array), shift = array('pool/shift', Float64Array);
    const sum = array('pool/sum', Float64Array), sumSq = array('pool/sumSq', Float64Array);
    if (data.length % p.dim !== 0 || data.length / p.dim > p.capacity || shift.length !== p.dim || sum.length !== p.dim || sumSq.length !== p.dim * p.dim) {
      throw bad(`the feature pool's arrays do not fit its dim ${p.dim} and capacity ${p.capacity}`);
    }
    pool = { dim: p.dim, capacity: p.capacity, addsSinceExact: p.addsSinceExact, data, shift, sum, sumSq };
  }

  let vosQueues: ClassQueues | null = null;
  if (meta.vos !== null && meta.vos !== undefined) {
    const v = meta.vos;
    if (!isObject(v) || !isCount(v.numClasses) || !isCount(v.dim) || !isCount(v.capacity) || v.capacity < 1) {
      throw bad('"vos" must give integer numClasses, dim and a positive capacity');
    }
    const data = array('vos/data', Float32Array), qCounts = array('vos/counts', Int32Array), next = array('vos/next', Int32Array);
    if (data.length !== v.numClasses * v.capacity * v.dim || qCounts.length !== v.numClasses || next.length !== v.numClasses
      || qCounts.some((c) => c < 0 || c > (v.capacity as number)) || next.some((c) => c < 0 || c >= (v.capacity as number))) {
      throw bad(`the VOS queues' arrays do not fit ${v.numClasses} classes × capacity ${v.capacity} × dim ${v.dim}`);
    }
    vosQueues = { numClasses: v.numClasses, dim: v.dim, capacity: v.capacity, data, counts: qCounts, next };
  }
  return {
    epochsDone: meta.epochsDone, config: meta.config as unknown as TrainConfig, history: meta.history as unknown as EpochRecord[],
    variables, extra, optimizer, pool, vosQueues, file,
  };
}

/** The newest checkpoint of a run folder, or null when it has none. */
export function loadCheckpoint(runDir: string): Checkpoint | null {
  const epochs = listCheckpoints(runDir);
  if (epochs.length === 0) return null;
  const file = fileOf(runDir, epochs[epochs.length - 1]);
  return decodeCheckpoint(readFileSync(file), file);
}

/** A checkpoint file's bytes → the checkpoint, every claim of its header checked (`file` names it in errors). */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const { arrays, meta } = decodeBundle(bytes, file);
  return checkpointOfBundle(arrays, meta, file);
}

/**
 * Refuses checkpoint arrays that do not fit the variables they are restored into (a checkpoint of
 * another model, or a doctored one), naming the file, before any tensor is made from them.
 */
export function checkRestoredSizes(c: Checkpoint, what: string, arrays: readonly Float32Array[], expected: readonly { name: string; size: number }[]): void {
  const bad = (why: string) => new AresError(`checkpoint does not fit this run: ${why}`, { file: c.file, exitCode: 2 });
  if (arrays.length !== expected.length) throw bad(`it holds ${arrays.length} ${what}, the run has ${expected.length}`);
  expected.forEach((v, i) => {
    if (arrays[i].length !== v.size) throw bad(`${what} ${i} (${v.name}) has ${arrays[i].length} values, expected ${v.size}`);
  });
}

/** Refuses a feature pool or VOS queues whose dimensions ([stored, the run's]) differ: they would be indexed out of range. */
export function checkRestoredDims(c: Checkpoint, what: string, dims: Record<string, [number, number]>): void {
  for (const [k, [stored, run]] of Object.entries(dims)) {
    if (stored !== run) throw new AresError(`checkpoint does not fit this run: ${what} ${k} is ${stored} in it, ${run} in the run`, { file: c.file, exitCode: 2 });
  }
}
