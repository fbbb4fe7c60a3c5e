/** The report's figures, each a pure function from numbers to an SVG string. */
import { PALETTE, axes, esc, extent, frame, legend, legendWidth, polyline, svg, sx, sy } from './svg.js';
import type { ReportData, ScoreGroup } from './types.js';

/** ROC curves of every OOD set (ID positive, the paper's convention), with the chance diagonal. */
export function rocChart(id: string, roc: ReportData['roc']): string {
  const f = frame([0, 1], [0, 1], { width: 420, height: 360, margin: { top: 16, right: 16, bottom: 44, left: 56 } });
  // Same colour per OOD set as in the score histogram.
  const colors = groupColors(roc.map(() => ({ kind: 'ood' })));
  const lines = roc.map((r, i) => polyline(f, r.points.map((p) => [p.fpr, p.tpr]), colors[i], `data-ood="${esc(r.ood)}"`));
  const diag = `<line x1="${sx(f, 0)}" y1="${sy(f, 0)}" x2="${sx(f, 1)}" y2="${sy(f, 1)}" class="chance"/>`;
  const items = roc.map((r, i) => ({ name: `${r.ood}${r.auroc !== undefined ? ` (AUROC ${(100 * r.auroc).toFixed(1)})` : ''}`, color: colors[i] }));
  return svg(id, f, axes(f, 'FPR (OOD accepted)', 'TPR (ID accepted)') + diag + lines.join('') + legend(f, items, 'br'), 'ROC curves per OOD set');
}

export const KIND_COLORS = { id: PALETTE[0], virtual: PALETTE[2] } as const;

/** Colours by group: ID blue, virtual outliers orange, each OOD set its own colour. */
export function groupColors(groups: { kind: string }[]): string[] {
  let k = 0;
  const ood = [PALETTE[1], PALETTE[4], PALETTE[6], PALETTE[3], PALETTE[8], PALETTE[7], PALETTE[5], PALETTE[9]];
  return groups.map((g) => (g.kind === 'id' ? KIND_COLORS.id : g.kind === 'virtual' ? KIND_COLORS.virtual : ood[k++ % ood.length]));
}

/** Quantile of sorted values (linear interpolation). */
function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
}

/**
 * Per-group density histograms on shared bins (paper Fig. 3), with γ marked. The range covers the
 * pooled 0.5–99.5% quantiles so one far-away group cannot squash the rest; values outside land in
 * the edge bins.
 */
export function histogramChart(id: string, groups: ScoreGroup[], opts: { bins?: number; gamma?: number; xLabel?: string } = {}): string {
  const bins = opts.bins ?? 40;
  const pooled = groups.flatMap((g) => g.values.filter(Number.isFinite)).sort((a, b) => a - b);
  let [lo, hi] = pooled.length ? [quantile(pooled, 0.005), quantile(pooled, 0.995)] : [0, 1];
  if (opts.gamma !== undefined && Number.isFinite(opts.gamma)) { lo = Math.min(lo, opts.gamma); hi = Math.max(hi, opts.gamma); }
  [lo, hi] = extent([lo, hi], 0.02);
  const width = (hi - lo) / bins;
  const dens = groups.map((g) => {
    const counts = new Array<number>(bins).fill(0);
    const vals = g.values.filter(Number.isFinite);
    for (const v of vals) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]++;
    return counts.map((c) => (vals.length ? c / (vals.length * width) : 0));
  });
  const f = frame([lo, hi], [0, Math.max(1e-9, ...dens.flat()) * 1.08], { width: 560, height: 320, margin: { top: 16, right: 16, bottom: 44, left: 56 } });
  const colors = groupColors(groups);
  const body = dens.map((d, gi) => {
    const pts: [number, number][] = [[lo, 0]];
    d.forEach((v, b) => { pts.push([lo + b * width, v], [lo + (b + 1) * width, v]); });
    pts.push([hi, 0]);
    const path = pts.map(([x, y]) => `${sx(f, x).toFixed(1)},${sy(f, y).toFixed(1)}`).join(' ');
    return `<polygon points="${path}" fill="${colors[gi]}" fill-opacity="0.25" stroke="${colors[gi]}" stroke-width="1.5" data-group="${esc(groups[gi].name)}"/>`;
  }).join('');
  const g = opts.gamma;
  const gammaLine = g !== undefined && Number.isFinite(g)
    ? `<line x1="${sx(f, g)}" x2="${sx(f, g)}" y1="${sy(f, f.y[0])}" y2="${sy(f, f.y[1])}" class="gamma"/><text x="${sx(f, g) + 4}" y="${sy(f, f.y[1]) + 12}" class="tick">γ</text>`
    : '';
  const items = groups.map((gr, i) => ({ name: `${gr.name} (${gr.values.length})`, color: colors[i] }));
  return svg(id, f, axes(f, opts.xLabel ?? 'score (higher = more in-distribution)', 'density') + body + gammaLine + legend(f, items), 'Score histograms');
}

/** 2-D embedding scatter (paper Fig. 2), one colour per group. */
export function scatterChart(id: string, umap: NonNullable<ReportData['umap']>): string {
  const colors = groupColors(umap.groups);
  const items = umap.groups.map((g, i) => ({ name: g.name, color: colors[i] }));
  const lw = legendWidth(items);
  const f = frame(extent(umap.x, 0.04), extent(umap.y, 0.04), { width: 520 + lw, height: 420, margin: { top: 16, right: 16 + lw, bottom: 44, left: 56 } });
  // Draw ID first so the smaller OOD and virtual groups stay visible on top.
  const order = Array.from(umap.group.keys()).sort((a, b) => (umap.groups[umap.group[a]].kind === 'id' ? 0 : 1) - (umap.groups[umap.group[b]].kind === 'id' ? 0 : 1) || a - b);
  const dots = order.map((i) => `<circle cx="${sx(f, umap.x[i]).toFixed(1)}" cy="${sy(f, umap.y[i]).toFixed(1)}" r="2.2" fill="${colors[umap.group[i]]}" fill-opacity="0.75"/>`).join('');
  return svg(id, f, axes(f, 'UMAP 1', 'UMAP 2') + dots + legend(f, items, 'outside'), 'UMAP of penultimate features');
}

/** One training curve per epoch (CE, JSD or accuracy); null values (e.g. CE-only epochs' JSD) are gaps. */
export function curveChart(id: string, title: string, series: { name: string; points: [number, number | null][] }[], yLabel: string): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v)));
  const named = series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length] }));
  const lw = series.length > 1 ? legendWidth(named) : 0;
  const f = frame(extent(xs), extent(ys, 0.08), { width: 330 + lw, height: 240, margin: { top: 16, right: 16 + lw, bottom: 44, left: 56 } });
  const body = series.map((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    // Split at nulls so a gap stays a gap.
    const runs: [number, number][][] = [[]];
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) runs.push([]);
      else runs[runs.length - 1].push([x, y]);
    }
    return runs.filter((r) => r.length).map((r) => polyline(f, r, color) + r.map(([x, y]) => `<circle cx="${sx(f, x).toFixed(1)}" cy="${sy(f, y).toFixed(1)}" r="2.5" fill="${color}"/>`).join('')).join('');
  }).join('');
  const items = series.length > 1 ? legend(f, named, 'outside') : '';
  return svg(id, f, axes(f, 'epoch', yLabel) + body + items, title);
}

/**
 * Inlier vs virtual-outlier energy per epoch: mean with a ± one-standard-deviation bar. The score
 * is −E, so the detector needs the outliers (orange) ABOVE the inliers (blue). Epochs without an
 * outlier loss are gaps.
 */
export function energyChart(id: string, epochs: { epoch: number; energy?: { inMean: number; inStd: number; outMean: number; outStd: number } | null }[]): string {
  const groups = [
    { name: 'inliers', color: KIND_COLORS.id, get: (g: NonNullable<(typeof epochs)[number]['energy']>) => [g.inMean, g.inStd] },
    { name: 'virtual outliers', color: KIND_COLORS.virtual, get: (g: NonNullable<(typeof epochs)[number]['energy']>) => [g.outMean, g.outStd] },
  ];
  const withE = epochs.filter((e) => e.energy);
  const ys = withE.flatMap((e) => groups.flatMap((gr) => { const [m, s] = gr.get(e.energy!); return [m - s, m + s]; }));
  const lw = legendWidth(groups);
  const f = frame(extent(epochs.map((e) => e.epoch), 0.05), extent(ys, 0.08), { width: 330 + lw, height: 240, margin: { top: 16, right: 16 + lw, bottom: 44, left: 56 } });
  const body = groups.map((gr, gi) => {
    const dx = (gi === 0 ? -1 : 1) * 3; // side by side, so the bars of one epoch do not hide each other
    const runs: [number, number][][] = [[]];
    const bars: string[] = [];
    for (const e of epochs) {
      if (!e.energy) { runs.push([]); continue; }
      const [m, s] = gr.get(e.energy);
      runs[runs.length - 1].push([e.epoch, m]);
      const x = (sx(f, e.epoch) + dx).toFixed(1);
      bars.push(`<line x1="${x}" x2="${x}" y1="${sy(f, m - s).toFixed(1)}" y2="${sy(f, m + s).toFixed(1)}" stroke="${gr.color}" stroke-width="1.5"/>`
        + `<circle cx="${x}" cy="${sy(f, m).toFixed(1)}" r="2.5" fill="${gr.color}"/>`);
    }
    const dxData = dx * (f.x[1] - f.x[0]) / (f.width - f.margin.left - f.margin.right);
    return runs.filter((r) => r.length).map((r) => polyline(f, r.map(([x, y]) => [x + dxData, y]), gr.color, `data-group="${esc(gr.name)}"`)).join('') + bars.join('');
  }).join('');
  return svg(id, f, axes(f, 'epoch', 'energy E (score is −E)') + body + legend(f, groups, 'outside'), 'Inlier vs virtual-outlier energy per epoch');
}
