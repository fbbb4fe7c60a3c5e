/**
 * index.html of an exported bundle: markup and styles here, the script (main.ts, built by esbuild)
 * inlined, and the page's config as a JSON block. No external resources: it loads only files of
 * the bundle, so it works offline from any static server on the bundle folder.
 */

import type { SelectionSummary } from '../../report/types.js';

/** Written into index.html by `ares export`, read by main.ts. */
export interface PageConfig {
  /** Histogram file beside index.html, or null when the run had none. */
  histogram: string | null;
  /** Why there is none. */
  histogramNote?: string;
  /** --score auto's record, when the run chose its score that way (shown as a small table). */
  selection?: SelectionSummary;
}

const escHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (v: number | null) => (v === null ? '–' : (100 * v).toFixed(1));

/** Why this score: every candidate's validation FPR95 (never a test number) and the rule. */
function selectionHtml(sel: SelectionSummary | undefined): string {
  if (!sel) return '';
  const rows = sel.candidates.map((c) => `<tr><td>${escHtml(c.score)}${c.score === sel.chosen ? ' (chosen)' : ''}</td><td>${pct(c.farMean)}</td><td>${pct(c.nearMean)}</td><td>${pct(c.objective)}</td><td>${escHtml(c.excluded ?? '–')}</td></tr>`);
  return `<details id="score-choice" class="note"><summary>Why the ${escHtml(sel.chosen)} score</summary>`
    + '<table><tr><th>score</th><th>far FPR95 %</th><th>held-out classes FPR95 %</th><th>objective</th><th>excluded</th></tr>'
    + `${rows.join('')}</table><p>Validation data only (${escHtml(sel.farSets.join(', '))}; ${sel.folds} held-out-class folds). ${escHtml(sel.rule)}.</p></details>`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1d1f23; --muted: #5f6670; --line: #d9dce1; --bg: #f6f7f9; --card: #fff;
  --accent: #2c5fb8; --ok: #1c6e3d; --no: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 22px; }
h1 { font-size: 1.45rem; margin: 0 0 4px; }
.meta, .note, .status, .empty, footer { color: var(--muted); }
.meta { margin: 0 0 6px; }
details { margin: 0 0 14px; color: var(--muted); }
summary { cursor: pointer; }
.inputs { display: flex; gap: 16px; flex-wrap: wrap; align-items: stretch; }
.drop { flex: 1 1 320px; min-height: 180px; display: flex; flex-direction: column; justify-content: center; align-items: center; gap: 4px;
  border: 2px dashed #aab2bf; border-radius: 10px; background: var(--card); cursor: pointer; text-align: center; padding: 16px; }
.drop:hover, .drop:focus, .drop.over { border-color: var(--accent); background: #eef3fc; outline: none; }
.drop strong { font-size: 1.1rem; }
.drop span { color: var(--muted); }
.drop input { position: absolute; width: 1px; height: 1px; opacity: 0; pointer-events: none; }
.pad-box { flex: 0 0 auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px; }
.pad-box[hidden] { display: none; }
#pad { display: block; width: 196px; height: 196px; border-radius: 6px; touch-action: none; cursor: crosshair; background: #000; }
.pad-row { display: flex; justify-content: space-between; align-items: center; gap: 8px; margin-top: 8px; font-size: 0.85rem; color: var(--muted); max-width: 196px; }
button { font: inherit; font-size: 0.85rem; padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: #f1f3f6; cursor: pointer; }
button:hover { border-color: var(--accent); }
.status { margin: 14px 0 2px; }
.note { margin: 2px 0 14px; font-size: 0.9rem; }
.error { color: var(--no); background: #fbeceb; border: 1px solid #f0c4c0; border-radius: 8px; padding: 8px 12px; }
.error[hidden] { display: none; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.92em; }
.results { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 14px; }
.card { display: grid; grid-template-columns: 84px 1fr; gap: 6px 12px; background: var(--card); border: 1px solid var(--line);
  border-left: 4px solid var(--line); border-radius: 8px; padding: 12px; }
.card.known { border-left-color: var(--ok); }
.card.unknown { border-left-color: var(--no); }
.thumb { width: 84px; height: 84px; image-rendering: pixelated; border-radius: 4px; background: #000; }
.body { min-width: 0; }
.name { font-size: 0.85rem; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.label { font-size: 1.35rem; font-weight: 650; overflow-wrap: anywhere; }
.known .label { color: var(--ok); }
.unknown .label { color: var(--no); }
.detail { font-size: 0.85rem; font-variant-numeric: tabular-nums; }
.where { grid-column: 1 / -1; margin: 4px 0 0; }
.where figcaption { font-size: 0.8rem; color: var(--muted); }
.hist { width: 100%; height: auto; display: block; }
.hist .bar { fill: #9fb5d9; }
.hist .reject-zone { fill: #fbeceb; }
.hist .axis { stroke: #9aa1ab; }
.hist .gamma { stroke: #333; stroke-dasharray: 3 2; }
.hist .gamma-label, .hist .tick { font-size: 9px; fill: var(--muted); }
.hist .tick.end { text-anchor: end; }
.hist .tick.middle { text-anchor: middle; }
.hist .marker.accepted { stroke: var(--ok); fill: var(--ok); stroke-width: 2; }
.hist .marker.rejected { stroke: var(--no); fill: var(--no); stroke-width: 2; }
.empty { grid-column: 1 / -1; }
footer { margin: 28px auto 24px; font-size: 0.8rem; }
`;

/** Browsers refuse module imports from file://; say so instead of showing a page that never loads. */
const FILE_CHECK = `if (location.protocol === 'file:') {
  var e = document.getElementById('error');
  e.hidden = false;
  e.innerHTML = 'This page must be served over http: browsers block loading the model from a <code>file://</code> page. Run <code>ares serve --bundle &lt;this folder&gt;</code> and open the address it prints.';
  document.getElementById('status').textContent = '';
}`;

/** Keeps inlined text from closing its <script> element early. */
const inScript = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

export function pageHtml(script: string, config: PageConfig): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Try the detector · ares-ood</title>
<style>${STYLE}</style>
<script type="application/json" id="ares-page-config">${inScript(JSON.stringify(config))}</script>
</head>
<body data-state="loading">
<header>
  <h1>Try the detector</h1>
  <p id="meta" class="meta">ares-ood detector bundle</p>
  <details><summary>Classes</summary><p id="classes"></p></details>
</header>
<main>
  <section class="inputs">
    <label id="drop" class="drop" for="files" tabindex="0">
      <strong>Drop images here</strong>
      <span>or click to choose files (PNG, JPEG, WebP, …)</span>
      <input id="files" type="file" accept="image/*" multiple>
    </label>
    <div id="pad-box" class="pad-box" hidden>
      <canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas>
      <div class="pad-row"><span>Draw with the mouse or a finger</span><button id="pad-clear" type="button">Clear</button></div>
    </div>
  </section>
  <p id="status" class="status">Loading…</p>
  <p id="error" class="error" role="alert" hidden></p>
  <p id="hist-note" class="note"></p>
  ${selectionHtml(config.selection)}
  <section id="results" class="results" aria-live="polite"><p id="empty" class="empty">Answers appear here: the class, or “unknown” when the score is below γ.</p></section>
</main>
<footer>Runs entirely in this browser with TensorFlow.js; images are not uploaded anywhere.</footer>
<script>${FILE_CHECK}</script>
<script type="module">
${inScript(script)}
</script>
</body>
</html>
`;
}
