/** The report's 2-D feature map (paper Fig. 2): UMAP (umap-js) of a seeded subsample, seeded. */
import { UMAP } from 'umap-js';
import { AresError } from '../errors.js';
import type { FeatureGroup } from '../run/types.js';
import { Rng } from '../util/rng.js';
import type { ReportData } from './types.js';

export interface EmbedOptions {
  seed?: number;
  /** Points drawn in all (each group gets an equal share, at most its size). Default 1200. */
  maxPoints?: number;
  nNeighbors?: number;
  nEpochs?: number;
}

/** Embeds the groups' feature rows in 2-D. Same (features, options) → same picture. */
export function embedFeatures(dim: number, groups: FeatureGroup[], opts: EmbedOptions = {}): NonNullable<ReportData['umap']> {
  const rng = Rng.stream(opts.seed ?? 0, 'report/umap');
  const nonEmpty = groups.filter((g) => g.features.length >= dim);
  if (!nonEmpty.length) throw new AresError('no features to embed');
  const share = Math.max(10, Math.floor((opts.maxPoints ?? 1200) / nonEmpty.length));
  const rows: number[][] = [];
  const group: number[] = [];
  nonEmpty.forEach((g, gi) => {
    const n = g.features.length / dim;
    const pick = Array.from(rng.fork(gi).permutation(n).subarray(0, Math.min(n, share))).sort((a, b) => a - b);
    for (const i of pick) { rows.push(Array.from(g.features.subarray(i * dim, (i + 1) * dim))); group.push(gi); }
  });
  // UMAP needs more points than neighbours; tiny inputs get a smaller neighbourhood.
  const nNeighbors = Math.max(2, Math.min(opts.nNeighbors ?? 15, rows.length - 1));
  if (rows.length < 3) throw new AresError(`UMAP needs at least 3 feature vectors, got ${rows.length}`);
  const umap = new UMAP({ nComponents: 2, nNeighbors, minDist: 0.1, nEpochs: opts.nEpochs ?? 200, random: () => rng.uniform() });
  const emb = umap.fit(rows);
  return {
    x: emb.map((p) => p[0]), y: emb.map((p) => p[1]), group,
    groups: nonEmpty.map((g) => ({ name: g.name, kind: g.kind })),
  };
}
