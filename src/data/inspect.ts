import { loadResolved } from './load.js';
import { batchSizeFor, openImageFolder } from './image-folder.js';
import { folderOptions, resolveSource, type SourceFormat, type SplitName } from './sources.js';
import type { ImageSet, LoadOptions, Shape, SkippedFile } from './types.js';

/**
 * `ares data inspect`: reads every image of every split (or the one asked for) — which validates the
 * whole source — and summarises it. Image folders are streamed, never held whole.
 */
export interface ClassCount { index: number; name: string; count: number }

export interface SplitSummary {
  name: string;
  count: number;
  shape: Shape;
  numClasses: number | null;
  classes: ClassCount[] | null;
  /** Smallest and largest pixel value, in [0, 1]. */
  min: number;
  max: number;
  /** Per-channel mean and standard deviation of the [0, 1] pixels. */
  mean: number[];
  std: number[];
  skipped: number;
  /** Up to 20 of the skipped files, with reasons. */
  skippedFiles: SkippedFile[];
}

export interface InspectReport {
  source: string;
  format: SourceFormat;
  path: string | null;
  splits: Partial<Record<SplitName, SplitSummary>>;
}

export async function inspectSource(spec: string, opts: LoadOptions = {}): Promise<InspectReport> {
  const src = await resolveSource(spec);
  const wanted: SplitName[] = src.splits[0] === 'all' ? ['all'] : src.split ? [src.split] : opts.split ? [opts.split] : src.splits;
  const report: InspectReport = { source: spec, format: src.format, path: 'path' in src ? src.path : null, splits: {} };
  for (const split of wanted) {
    const o: LoadOptions = split === 'all' ? opts : { ...opts, split };
    if (src.format === 'image-folder') {
      const { dir, options } = folderOptions(src, split, o);
      const reader = await openImageFolder(dir, options);
      const acc = new Stats(reader.shape, reader.classNames);
      for await (const b of reader.batches(batchSizeFor(reader.shape, 256))) acc.add(b.images, b.labels);
      report.splits[split] = acc.summary(reader.name, reader.skipped);
    } else {
      const set = await loadResolved({ ...src, split: undefined }, o);
      report.splits[split] = summarizeSet(set);
    }
  }
  return report;
}

export function summarizeSet(set: ImageSet): SplitSummary {
  const acc = new Stats(set.shape, set.classNames);
  acc.add(set.images, set.labels);
  return acc.summary(set.name, set.skipped ?? []);
}

/** Streaming statistics: counts per class, value range, per-channel moments. */
class Stats {
  private count = 0;
  private min = Infinity;
  private max = -Infinity;
  private readonly sum: Float64Array;
  private readonly sq: Float64Array;
  private readonly perClass: number[] | null;

  constructor(private readonly shape: Shape, private readonly classNames?: string[]) {
    this.sum = new Float64Array(shape[2]);
    this.sq = new Float64Array(shape[2]);
    this.perClass = classNames ? classNames.map(() => 0) : null;
  }

  add(images: Float32Array, labels?: Int32Array): void {
    const c = this.shape[2];
    for (let i = 0; i < images.length; i += c) {
      for (let ch = 0; ch < c; ch++) {
        const v = images[i + ch];
        if (v < this.min) this.min = v;
        if (v > this.max) this.max = v;
        this.sum[ch] += v;
        this.sq[ch] += v * v;
      }
    }
    const per = this.shape[0] * this.shape[1] * c;
    this.count += images.length / per;
    if (labels && this.perClass) for (const y of labels) this.perClass[y]++;
  }

  summary(name: string, skipped: SkippedFile[]): SplitSummary {
    const px = (this.count * this.shape[0] * this.shape[1]) || 1;
    const mean = Array.from(this.sum, (s) => s / px);
    const std = Array.from(this.sq, (s, ch) => Math.sqrt(Math.max(0, s / px - mean[ch] ** 2)));
    return {
      name, count: this.count, shape: this.shape,
      numClasses: this.classNames ? this.classNames.length : null,
      classes: this.perClass ? this.perClass.map((count, index) => ({ index, name: this.classNames![index], count })) : null,
      min: this.count ? this.min : 0, max: this.count ? this.max : 0, mean, std,
      skipped: skipped.length, skippedFiles: skipped.slice(0, 20),
    };
  }
}
