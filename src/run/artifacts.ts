/**
 * artifacts/: what the report needs beyond the metrics — score arrays, penultimate features for
 * the UMAP plot, and sample images.
 *
 *   scores.json          ScoreArrays
 *   features.json        {dim, groups: [{name, kind, count, labels?}]}, rows in group order
 *   features.f32         the rows, float32 little-endian, [Σ count, dim]
 *   samples/<kind>-NNN.png  kind = pixmix | fractals
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AresError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { encodePng } from './images.js';
import { isNum, isObject, readJsonFile } from './json-file.js';
import type { FeatureGroup, FeatureKind, RunArtifacts, ScoreArrays } from './types.js';

export const SAMPLE_KINDS = ['pixmix', 'fractals'] as const;
export type SampleKind = (typeof SAMPLE_KINDS)[number];

/** What readArtifacts returns: sample images stay PNG bytes (the report inlines them). */
export interface LoadedArtifacts {
  scores?: ScoreArrays;
  features?: { dim: number; groups: FeatureGroup[] };
  samples: Record<SampleKind, Buffer[]>;
}

const FEATURE_KINDS: FeatureKind[] = ['id', 'ood', 'virtual'];

function checkFloat32LE(): void {
  if (new Uint8Array(new Float32Array([1]).buffer)[3] !== 0x3f) {
    throw new AresError('features.f32 is little-endian; this machine is big-endian');
  }
}

export async function writeArtifacts(dir: string, a: RunArtifacts): Promise<void> {
  if (a.scores) writeJsonAtomic(join(dir, 'scores.json'), a.scores);
  if (a.features) {
    checkFloat32LE();
    const { dim, groups } = a.features;
    for (const g of groups) {
      if (g.features.length % dim !== 0) throw new AresError(`feature group "${g.name}" has ${g.features.length} values, not a multiple of dim ${dim}`);
    }
    const total = groups.reduce((n, g) => n + g.features.length, 0);
    const all = new Float32Array(total);
    let at = 0;
    for (const g of groups) { all.set(g.features, at); at += g.features.length; }
    writeFileAtomic(join(dir, 'features.f32'), new Uint8Array(all.buffer));
    writeJsonAtomic(join(dir, 'features.json'), {
      dim,
      groups: groups.map((g) => ({ name: g.name, kind: g.kind, count: g.features.length / dim, ...(g.labels ? { labels: Array.from(g.labels) } : {}) })),
    });
  }
  for (const kind of SAMPLE_KINDS) {
    const batch = a.samples?.[kind];
    if (!batch) continue;
    const n = batch.images.length / batch.shape.reduce((x, y) => x * y, 1);
    for (let i = 0; i < n; i++) {
      writeFileAtomic(join(dir, 'samples', `${kind}-${String(i).padStart(3, '0')}.png`), await encodePng(batch, i));
    }
  }
}

function parseScores(raw: unknown, file: string): ScoreArrays {
  const nums = (v: unknown) => Array.isArray(v) && v.every((x) => isNum(x));
  if (!isObject(raw) || typeof raw.score !== 'string' || !nums(raw.id) || !isObject(raw.ood)
    || !Object.values(raw.ood).every(nums) || (raw.virtual !== undefined && !nums(raw.virtual)) || (raw.val !== undefined && !nums(raw.val))) {
    throw new AresError('invalid score arrays: expected {score, id: number[], val?: number[], ood: {name: number[]}, virtual?: number[]}', { file });
  }
  return raw as unknown as ScoreArrays;
}

function readFeatures(dir: string): LoadedArtifacts['features'] {
  const metaPath = join(dir, 'features.json');
  const binPath = join(dir, 'features.f32');
  const meta = readJsonFile(metaPath, 'feature index');
  if (!isObject(meta) || !isNum(meta.dim) || meta.dim <= 0 || !Array.isArray(meta.groups)) {
    throw new AresError('invalid feature index: expected {dim, groups}', { file: metaPath });
  }
  const dim = meta.dim;
  checkFloat32LE();
  let bytes: Buffer;
  try {
    bytes = readFileSync(binPath);
  } catch {
    throw new AresError('missing feature data (features.json lists groups)', { file: binPath });
  }
  const rows = meta.groups.reduce((n: number, g: unknown) => n + (isObject(g) && isNum(g.count) ? g.count : NaN), 0);
  if (!Number.isInteger(rows) || bytes.byteLength !== rows * dim * 4) {
    throw new AresError(`feature data is ${bytes.byteLength} bytes, features.json describes ${rows} rows of ${dim} float32`, { file: binPath });
  }
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let at = 0;
  const groups = (meta.groups as Record<string, unknown>[]).map((g, i) => {
    if (typeof g.name !== 'string' || !FEATURE_KINDS.includes(g.kind as FeatureKind)) {
      throw new AresError(`feature group ${i}: expected name and kind (${FEATURE_KINDS.join('/')})`, { file: metaPath });
    }
    const count = g.count as number;
    const features = all.subarray(at * dim, (at + count) * dim);
    at += count;
    const labels = Array.isArray(g.labels) ? Int32Array.from(g.labels as number[]) : undefined;
    return { name: g.name, kind: g.kind as FeatureKind, features, ...(labels ? { labels } : {}) };
  });
  return { dim, groups };
}

/** artifacts/scores.json alone (undefined when absent), for readers that need no features or images. */
export function readScoreArrays(dir: string): ScoreArrays | undefined {
  const scoresPath = join(dir, 'scores.json');
  return existsSync(scoresPath) ? parseScores(readJsonFile(scoresPath, 'score arrays'), scoresPath) : undefined;
}

/** Reads whatever artifacts exist; a present but corrupt file is an error, an absent one is not. */
export function readArtifacts(dir: string): LoadedArtifacts {
  const out: LoadedArtifacts = { samples: { pixmix: [], fractals: [] } };
  const scores = readScoreArrays(dir);
  if (scores) out.scores = scores;
  if (existsSync(join(dir, 'features.json'))) out.features = readFeatures(dir);
  const sdir = join(dir, 'samples');
  if (existsSync(sdir)) {
    for (const name of readdirSync(sdir).sort()) {
      const kind = SAMPLE_KINDS.find((k) => name.startsWith(`${k}-`) && name.endsWith('.png'));
      if (kind) out.samples[kind].push(readFileSync(join(sdir, name)));
    }
  }
  return out;
}
