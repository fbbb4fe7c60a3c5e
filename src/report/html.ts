/**
 * buildReport(data): one self-contained HTML page (inline CSS and SVG, images as data URLs,
 * no script, nothing fetched), so it can be mailed, archived or opened offline.
 */
import { curveChart, energyChart, histogramChart, rocChart, scatterChart } from './charts.js';
import { CHART_CSS, esc } from './svg.js';
import { CHART_IDS, type ReportData } from './types.js';

const pct = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? (100 * v).toFixed(2) : '–');

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 12px}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}.card b{display:block;font-size:20px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.config{columns:2;font-size:12.5px}.config div{break-inside:avoid}.config code{color:#333}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
svg.chart{background:#fff;border:1px solid #eee;max-width:100%;height:auto}
${CHART_CSS}
.samples img{width:56px;height:56px;image-rendering:pixelated;border:1px solid #ddd;margin:2px}
.missing{color:#999;font-style:italic}figure{margin:0}figcaption{font-size:12px;color:#555;max-width:560px}
`;

function missing(what: string): string {
  return `<p class="missing">No ${esc(what)} in this run.</p>`;
}

function configTable(config: Record<string, unknown>): string {
  const rows = Object.entries(config).map(([k, v]) => `<div><code>${esc(k)}</code>: ${esc(typeof v === 'object' ? JSON.stringify(v) : String(v))}</div>`);
  return `<div id="${CHART_IDS.config}" class="config">${rows.join('') || '<div class="missing">empty</div>'}</div>`;
}

function metricsTable(d: ReportData): string {
  if (!d.metrics.length) return `<div id="${CHART_IDS.metrics}">${missing('OOD metrics')}</div>`;
  const head = '<tr><th>OOD set</th><th>score</th><th>FPR95 ↓</th><th>AUROC ↑</th><th>AUPR-In ↑</th><th>AUPR-Out ↑</th></tr>';
  const rows = d.metrics.map((r) => `<tr><td>${esc(r.ood)}</td><td>${esc(r.score)}</td><td>${pct(r.fpr95)}</td><td>${pct(r.auroc)}</td><td>${pct(r.aupr_in)}</td><td>${pct(r.aupr_out)}</td></tr>`);
  return `<table id="${CHART_IDS.metrics}">${head}${rows.join('')}</table><p class="sub">Percent. FPR95: share of OOD images accepted when 95% of ID test images are accepted (ID positive).</p>`;
}

function sampleGrid(id: string, title: string, urls: string[]): string {
  // Only inline PNG data URLs: the page must never reach the network.
  const imgs = urls.filter((u) => u.startsWith('data:image/png;base64,')).map((u, i) => `<img src="${u}" alt="${esc(title)} ${i + 1}">`);
  return `<figure><div id="${id}" class="samples">${imgs.join('') || missing(title)}</div><figcaption>${esc(title)}</figcaption></figure>`;
}

function trainingCurves(d: ReportData): string {
  if (!d.history.length) return missing('training history');
  const ep = d.history;
  const series = (name: string, get: (e: (typeof ep)[number]) => number | null | undefined) => ({ name, points: ep.map((e) => [e.epoch, get(e) ?? null] as [number, number | null]) });
  const acc = [series('train', (e) => e.accuracy)];
  if (ep.some((e) => typeof e.valAccuracy === 'number')) acc.push(series('validation', (e) => e.valAccuracy));
  const energy = ep.some((e) => e.energy)
    ? `<figure>${energyChart(CHART_IDS.energy, ep)}<figcaption>Mean ± std of inlier and virtual-outlier energies per epoch; the score is −E, so outliers belong above inliers.</figcaption></figure>`
    : '';
  return `<div class="row">${curveChart(CHART_IDS.ce, 'Cross-entropy per epoch', [series('CE', (e) => e.ce)], 'CE')}`
    + `${curveChart(CHART_IDS.jsd, 'JSD per epoch', [series('JSD', (e) => e.jsd)], 'JSD')}`
    + `${curveChart(CHART_IDS.accuracy, 'Accuracy per epoch', acc, 'accuracy')}${energy}</div>`;
}

/** γ and the TPR in words: what the operating point does to in-distribution images. */
function thresholdText(det: NonNullable<ReportData['detector']>): string {
  const on = det.thresholdCount ? `the ${det.thresholdCount} held-out ID validation images` : 'the held-out ID validation images';
  const measured = typeof det.idValidationRejected === 'number'
    ? ` Measured on them: <b>${pct(det.idValidationRejected)}%</b> rejected as unknown, ${pct(1 - det.idValidationRejected)}% accepted.` : '';
  return `<p id="threshold-explained">An image is accepted when its ${esc(det.score)} score is at least γ = ${esc(+det.gamma.toPrecision(6))}, `
    + `and answered <i>unknown</i> otherwise. γ was chosen to accept ${pct(det.tpr)}% (the TPR) of ${on} — never on OOD data — so about `
    + `${pct(1 - det.tpr)}% of in-distribution images are expected to be answered unknown.${measured} A higher TPR (<code>--tpr</code> of `
    + '<code>ares train</code> or <code>ares fit</code>) rejects fewer known images and lets more unknown ones through; the FPR columns below are at this TPR.</p>';
}

/** --score auto: every candidate's validation numbers and the pick (same table as the CLI's). */
function selectionTable(sel: NonNullable<ReportData['selection']>): string {
  const head = '<tr><th>candidate</th><th>far sets FPR95 ↓</th><th>held-out classes FPR95 ↓</th><th>objective ↓</th><th>excluded</th></tr>';
  const rows = sel.candidates.map((c) => `<tr><td>${esc(c.score)}${c.score === sel.chosen ? ' <b>(chosen)</b>' : ''}</td><td>${pct(c.farMean)}</td><td>${pct(c.nearMean)}</td><td>${pct(c.objective)}</td><td>${esc(c.excluded ?? '–')}</td></tr>`);
  return `<table id="${CHART_IDS.selection}">${head}${rows.join('')}</table>`
    + `<p class="sub">Percent, at TPR ${pct(sel.tpr)}% on ID validation images; validation sets only (far: ${esc(sel.farSets.join(', '))}; ${sel.folds} held-out-class folds), never a test set. Rule: ${esc(sel.rule)}.</p>`;
}

export function buildReport(d: ReportData): string {
  const det = d.detector;
  const cards = [
    `<div class="card">ID accuracy<b>${pct(d.accuracy)}%</b></div>`,
    det ? `<div class="card">threshold γ (${esc(det.score)})<b>${esc(+det.gamma.toPrecision(6))}</b>accepts ${pct(det.tpr)}% of ID validation</div>` : '',
    det ? `<div class="card">classes<b>${det.classNames.length}</b>${esc(det.classNames.slice(0, 10).join(', '))}${det.classNames.length > 10 ? ', …' : ''}</div>` : '',
    d.metrics.length ? `<div class="card">mean FPR95<b>${pct(d.metrics.reduce((s, r) => s + r.fpr95, 0) / d.metrics.length)}%</b>over ${d.metrics.length} rows</div>` : '',
  ].join('');
  const scoreGroups = d.scores?.groups.filter((g) => g.values.length) ?? [];
  const body = [
    `<h1>${esc(d.title)}</h1>`,
    d.subtitle ? `<p class="sub">${esc(d.subtitle)}</p>` : '',
    `<div class="cards">${cards}</div>`,
    det ? `<h2>Deployment threshold</h2>${thresholdText(det)}` : '',
    d.selection ? `<h2>Score choice (--score auto)</h2>${selectionTable(d.selection)}` : '',
    `<h2>Metrics</h2>${metricsTable(d)}`,
    '<h2>ROC curves and score distributions</h2><div class="row">',
    d.roc.length ? `<figure>${rocChart(CHART_IDS.roc, d.roc)}<figcaption>ROC per OOD set, ID positive.</figcaption></figure>` : missing('ROC curves (no score arrays)'),
    scoreGroups.length
      ? `<figure>${histogramChart(CHART_IDS.histogram, scoreGroups, { gamma: det?.gamma, xLabel: `${d.scores!.score} score (higher = more in-distribution)` })}<figcaption>Score densities of ID test images, each OOD set and the virtual outliers (cf. the paper's Fig. 3); the dashed line is γ.</figcaption></figure>`
      : missing('score arrays'),
    '</div>',
    '<h2>Feature space</h2>',
    d.umap ? `<figure>${scatterChart(CHART_IDS.umap, d.umap)}<figcaption>UMAP of penultimate features: ID, real OOD and virtual outliers (cf. the paper's Fig. 2).</figcaption></figure>` : missing('features'),
    `<h2>Training</h2>${trainingCurves(d)}`,
    `<h2>Samples</h2><div class="row">${sampleGrid(CHART_IDS.pixmix, 'PixMix outputs (Escape)', d.samples.pixmix)}${sampleGrid(CHART_IDS.fractals, 'Fractals', d.samples.fractals)}</div>`,
    `<h2>Configuration</h2>${configTable(d.config)}`,
  ].join('\n');
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`
    + `<link rel="icon" href="data:,"><title>${esc(d.title)}</title><style>${CSS}</style></head><body>\n${body}\n</body></html>\n`;
}
