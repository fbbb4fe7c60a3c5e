/**
 * Inline-SVG chart primitives for the report: axes with "nice" ticks, line series, filled step
 * histograms, scatter points and a legend. Everything is a string; no DOM, no network, no library,
 * so the report opens offline and the output is a pure function of the data.
 */

export const PALETTE = ['#4e79a7', '#e15759', '#f28e2b', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** The chart classes' style: the report puts it in its page, a standalone SVG file inside itself. */
export const CHART_CSS = `svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .frame{fill:none;stroke:#888}svg .tick{font-size:10.5px;fill:#555}
svg .label{font-size:12px;fill:#333}svg .legend text{font-size:11px;fill:#333}svg .chance{stroke:#aaa;stroke-dasharray:4 3}
svg .gamma{stroke:#222;stroke-dasharray:5 3;stroke-width:1.2}`;

/** A chart as a file of its own: its style inside, a font and an opaque background. */
export function standaloneSvg(chart: string): string {
  return chart.replace(/^<svg ([^>]*)>/, `<svg $1 font-family="sans-serif" style="background:#fff"><style>${CHART_CSS}</style>`);
}

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface Frame {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
  x: [number, number];
  y: [number, number];
}

export const DEFAULT_SIZE = { width: 460, height: 300, margin: { top: 16, right: 16, bottom: 44, left: 56 } };

/** Round tick values (1, 2, 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // Multiples of step, rounded to its decimals, so 3 × 0.2 prints as 0.6 and not 0.6000000000000001.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const out: number[] = [];
  for (let k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) out.push(+(k * step).toFixed(decimals) || 0);
  return out;
}

/** [lo, hi] of finite values, padded so a constant series still gets a visible range. */
export function extent(values: Iterable<number>, pad = 0): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

export function sx(f: Frame, v: number): number {
  return f.margin.left + ((v - f.x[0]) / (f.x[1] - f.x[0])) * (f.width - f.margin.left - f.margin.right);
}

export function sy(f: Frame, v: number): number {
  return f.height - f.margin.bottom - ((v - f.y[0]) / (f.y[1] - f.y[0])) * (f.height - f.margin.top - f.margin.bottom);
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : String(+v.toPrecision(4)));

export function axes(f: Frame, xLabel: string, yLabel: string): string {
  const parts: string[] = [];
  const [x0, x1, y0, y1] = [sx(f, f.x[0]), sx(f, f.x[1]), sy(f, f.y[0]), sy(f, f.y[1])];
  for (const t of niceTicks(f.y[0], f.y[1])) {
    const y = sy(f, t).toFixed(1);
    parts.push(`<line x1="${x0}" x2="${x1}" y1="${y}" y2="${y}" class="grid"/><text x="${x0 - 6}" y="${y}" class="tick" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(f.x[0], f.x[1])) {
    const x = sx(f, t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + 4}" class="axis"/><text x="${x}" y="${y0 + 16}" class="tick" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" class="frame"/>`);
  parts.push(`<text x="${(x0 + x1) / 2}" y="${f.height - 8}" class="label" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(y0 + y1) / 2}) rotate(-90)" class="label" text-anchor="middle">${esc(yLabel)}</text>`);
  return parts.join('');
}

export function polyline(f: Frame, pts: [number, number][], color: string, extra = ''): string {
  const d = pts.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => `${sx(f, x).toFixed(1)},${sy(f, y).toFixed(1)}`).join(' ');
  return `<polyline points="${d}" fill="none" stroke="${color}" stroke-width="1.8" ${extra}/>`;
}

/**
 * Legend inside the frame's top-right or bottom-right corner, or 'outside': in the right margin,
 * for charts whose data can fill any corner (scatter, curves); size that margin with legendWidth.
 */
export function legend(f: Frame, items: { name: string; color: string }[], corner: 'tr' | 'br' | 'outside' = 'tr'): string {
  if (corner === 'outside') {
    const x = f.width - f.margin.right + 12;
    return items.map((it, i) => {
      const y = f.margin.top + 6 + 15 * i;
      return `<g class="legend"><rect x="${x}" y="${y - 5}" width="10" height="10" fill="${it.color}"/><text x="${x + 14}" y="${y}" dominant-baseline="middle">${esc(it.name)}</text></g>`;
    }).join('');
  }
  const x = f.width - f.margin.right - 8;
  const top = corner === 'tr' ? f.margin.top + 12 : f.height - f.margin.bottom - 8 - 15 * (items.length - 1);
  return items.map((it, i) => {
    const y = top + 15 * i;
    return `<g class="legend"><rect x="${x - 10}" y="${y - 5}" width="10" height="10" fill="${it.color}"/><text x="${x - 14}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(it.name)}</text></g>`;
  }).join('');
}

/** Right-margin width an 'outside' legend needs (11px text at ~6.2px per character). */
export function legendWidth(items: { name: string }[]): number {
  return Math.ceil(34 + 6.2 * Math.max(0, ...items.map((it) => it.name.length)));
}

/** Wraps chart content in an <svg> with an id the report test looks for. */
export function svg(id: string, f: Frame, body: string, title: string): string {
  return `<svg id="${esc(id)}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img"><title>${esc(title)}</title>${body}</svg>`;
}

export function frame(x: [number, number], y: [number, number], size = DEFAULT_SIZE): Frame {
  return { ...size, x, y };
}
