/**
 * The try-it page's script (index.html of an exported bundle; esbuild inlines it there, with
 * ../loader.js and tfjs left as imports of the bundle's own loader.js and tf.fesm.min.js).
 *
 * Each dropped or chosen image is decoded by the browser at its own size (EXIF orientation
 * applied) and handed to the bundle's detector, whose loader fits it to the model by the input
 * contract — alpha onto black, resized by ares.json's `resize`, grey↔RGB by luma — with the same
 * code `ares predict` runs on sharp's decoding; 28×28 grey models also get a drawing pad. Every answer is shown with its score, γ and
 * where the score falls on the ID-validation histogram.
 */
import * as tf from '@tensorflow/tfjs';
import { loadDetector, modelPixels, UNKNOWN, type Detector, type Prediction } from '../loader.js';
import { parseScoreHistogram, shareBelow, type ScoreHistogram } from './histogram.js';
import type { PageConfig } from './template.js';

const SVG = 'http://www.w3.org/2000/svg';
const PAD = 280;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`index.html has no #${id}`);
  return e as T;
}

/** How ares.json's resize mode treats an image of another size, in words. */
const RESIZE_TEXT: Record<Detector['spec']['resize'], string> = {
  crop: 'scaled, centre cropped', stretch: 'stretched', pad: 'scaled, black margins',
};

const fmt = (v: number) => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(2) : v.toFixed(3));
const pct = (v: number) => `${(100 * v).toFixed(v > 0.001 && v < 0.999 ? 1 : 2).replace(/\.0+$/, '')}%`;

/**
 * The image's own pixels at its own size, as the browser decoded them. Resizing is left to the
 * loader (modelPixels / predict), which runs the same code as `ares predict`, not the canvas's.
 */
function pixelsOf(src: CanvasImageSource & { width: number; height: number }): ImageData {
  const c = el('canvas', { width: String(src.width), height: String(src.height) });
  const g = c.getContext('2d', { willReadFrequently: true })!;
  g.drawImage(src, 0, 0);
  return g.getImageData(0, 0, src.width, src.height);
}

/** What the model sees (for the card's thumbnail): the loader's modelPixels as a canvas. */
function seenCanvas(img: ImageData, spec: Detector['spec']): HTMLCanvasElement {
  const [h, w, c] = spec.inputShape;
  const px = modelPixels(img, spec);
  const out = new ImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    for (let ch = 0; ch < 3; ch++) out.data[4 * p + ch] = Math.round(255 * px[p * c + (c === 1 ? 0 : ch)]);
    out.data[4 * p + 3] = 255;
  }
  const canvas = el('canvas', { width: String(w), height: String(h) });
  canvas.getContext('2d')!.putImageData(out, 0, 0);
  return canvas;
}

/** The histogram with γ and this score marked; a score off the range is pinned to its edge. */
function histogramSvg(hist: ScoreHistogram, score: number, accepted: boolean): SVGElement {
  const W = 300, H = 84, top = 6, base = 62;
  const s = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, class: 'hist', role: 'img' });
  const x = (v: number) => 8 + ((v - hist.lo) / (hist.hi - hist.lo)) * (W - 16);
  const max = Math.max(...hist.counts);
  const bw = (W - 16) / hist.counts.length;
  s.append(svgEl('rect', { x: 8, y: top, width: Math.max(0, x(hist.gamma) - 8), height: base - top, class: 'reject-zone' }));
  hist.counts.forEach((c, i) => {
    const bh = (c / max) * (base - top);
    if (bh > 0) s.append(svgEl('rect', { x: 8 + i * bw + 0.5, y: base - bh, width: Math.max(0.5, bw - 1), height: bh, class: 'bar' }));
  });
  s.append(svgEl('line', { x1: 8, x2: W - 8, y1: base, y2: base, class: 'axis' }));
  s.append(svgEl('line', { x1: x(hist.gamma), x2: x(hist.gamma), y1: top - 2, y2: base, class: 'gamma' }));
  const g = svgEl('text', { x: x(hist.gamma) + 3, y: top + 8, class: 'gamma-label' });
  g.textContent = 'γ';
  s.append(g);
  const off = score < hist.lo ? -1 : score > hist.hi ? 1 : 0;
  const mx = off < 0 ? 8 : off > 0 ? W - 8 : x(score);
  const cls = accepted ? 'marker accepted' : 'marker rejected';
  s.append(svgEl('line', { x1: mx, x2: mx, y1: top - 2, y2: base + 4, class: cls }));
  // Off the range: an arrow at the edge pointing outwards; inside it: a pointer under the axis.
  const arrow = off < 0 ? `M${mx - 6} ${top + 10} l8 -5 v10 z` : off > 0 ? `M${mx + 6} ${top + 10} l-8 -5 v10 z` : `M${mx} ${base + 4} l-5 8 h10 z`;
  s.append(svgEl('path', { d: arrow, class: cls }));
  const tick = (v: number, at: number, anchor: string) => {
    const t = svgEl('text', { x: at, y: H - 2, class: `tick ${anchor}` });
    t.textContent = fmt(v);
    s.append(t);
  };
  tick(hist.lo, 8, 'start');
  tick(hist.hi, W - 8, 'end');
  const axis = svgEl('text', { x: W / 2, y: H - 2, class: 'tick middle' });
  axis.textContent = `${hist.score} score →`;
  s.append(axis);
  const title = svgEl('title', {});
  title.textContent = `${hist.score} scores of ${hist.count} ID validation images; γ = ${hist.gamma}; this image: ${score}`;
  s.prepend(title);
  return s;
}

function whereText(hist: ScoreHistogram, score: number): string {
  if (score < hist.lo) return 'Lower than every ID validation image.';
  if (score > hist.hi) return 'Higher than every ID validation image.';
  return `Higher than ${pct(shareBelow(hist, score))} of the ID validation images.`;
}

interface Page {
  detector: Detector;
  hist: ScoreHistogram | null;
  results: HTMLElement;
}

/** One answer card; `card` is reused when given (the drawing pad updates its own). */
function showAnswer(page: Page, name: string, input: HTMLCanvasElement, p: Prediction, card?: HTMLElement): HTMLElement {
  const { spec } = page.detector;
  const box = card ?? el('article', { class: 'card' });
  box.replaceChildren();
  // A class the fit declared unknown answers "unknown" even when the score accepts.
  const known = p.accepted && !p.declaredUnknown;
  box.className = `card ${known ? 'known' : 'unknown'}`;
  box.dataset.name = name;
  box.dataset.label = p.label;
  box.dataset.score = String(p.score);
  const thumb = el('canvas', { width: String(input.width), height: String(input.height), class: 'thumb', title: 'what the model sees' });
  thumb.getContext('2d')!.drawImage(input, 0, 0);
  const body = el('div', { class: 'body' });
  body.append(el('div', { class: 'name', title: name }, name), el('div', { class: 'label' }, p.label));
  const top = spec.classNames[p.classIndex];
  const prob = p.probabilities?.[p.classIndex];
  const lines = [`score ${fmt(p.score)} ${p.accepted ? '≥' : '<'} γ ${fmt(spec.threshold.gamma)}`];
  lines.push(known ? `softmax ${prob !== undefined ? pct(prob) : '–'}` : `closest class: ${top}${prob !== undefined ? ` (softmax ${pct(prob)})` : ''}`);
  if (p.declaredUnknown) lines.push(`${top} is declared unknown (fitted without images of it)`);
  for (const l of lines) body.append(el('div', { class: 'detail' }, l));
  box.append(thumb, body);
  if (page.hist) {
    const fig = el('figure', { class: 'where' });
    fig.append(histogramSvg(page.hist, p.score, p.accepted), el('figcaption', {}, whereText(page.hist, p.score)));
    box.append(fig);
  }
  if (!card) page.results.prepend(box);
  byId('empty').hidden = true;
  return box;
}

function showFailure(page: Page, name: string, why: string): void {
  const box = el('article', { class: 'card failed' });
  box.dataset.name = name;
  box.dataset.label = '';
  const body = el('div', { class: 'body' });
  body.append(el('div', { class: 'name' }, name), el('div', { class: 'detail' }, why));
  box.append(body);
  page.results.prepend(box);
  byId('empty').hidden = true;
}

async function classify(page: Page, img: ImageData): Promise<Prediction> {
  const [p] = await page.detector.predict(img, { probabilities: true });
  return p;
}

async function classifyFiles(page: Page, files: FileList | File[]): Promise<void> {
  for (const file of Array.from(files)) {
    let bitmap: ImageBitmap;
    try {
      // EXIF orientation applied, as `ares predict` applies it (sharp's autoOrient).
      bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      showFailure(page, file.name, 'not an image this browser can decode');
      continue;
    }
    const img = pixelsOf(bitmap);
    bitmap.close();
    showAnswer(page, file.name, seenCanvas(img, page.detector.spec), await classify(page, img));
  }
}

function setupDrop(page: Page): void {
  const zone = byId('drop');
  const picker = byId<HTMLInputElement>('files');
  const busy = (f: () => Promise<void>) => {
    document.body.dataset.busy = 'true';
    f().catch(fail).finally(() => { delete document.body.dataset.busy; });
  };
  picker.addEventListener('change', () => { if (picker.files?.length) { const files = Array.from(picker.files); picker.value = ''; busy(() => classifyFiles(page, files)); } });
  // The whole window accepts drops, so a near miss never navigates away to the raw file.
  window.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  window.addEventListener('dragleave', (e) => { if (!e.relatedTarget) zone.classList.remove('over'); });
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = e.dataTransfer?.files;
    if (files?.length) busy(() => classifyFiles(page, Array.from(files)));
  });
  zone.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); picker.click(); } });
}

/** White strokes on black, as MNIST-like data is; classified whenever a stroke ends. */
function setupPad(page: Page): void {
  const [h, w, c] = page.detector.spec.inputShape;
  if (h !== 28 || w !== 28 || c !== 1) return;
  byId('pad-box').hidden = false;
  const pad = byId<HTMLCanvasElement>('pad');
  const g = pad.getContext('2d')!;
  const clear = () => { g.fillStyle = '#000'; g.fillRect(0, 0, PAD, PAD); };
  clear();
  g.strokeStyle = '#fff';
  g.lineWidth = 22;
  g.lineCap = 'round';
  g.lineJoin = 'round';
  let drawing = false;
  let card: HTMLElement | undefined;
  const at = (e: PointerEvent) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * PAD, ((e.clientY - r.top) / r.height) * PAD] as const;
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    const [x, y] = at(e);
    g.beginPath();
    g.moveTo(x, y);
    g.lineTo(x + 0.01, y);
    g.stroke();
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    g.lineTo(x, y);
    g.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    const img = g.getImageData(0, 0, PAD, PAD);
    classify(page, img).then((p) => { card = showAnswer(page, 'drawing', seenCanvas(img, page.detector.spec), p, card); }).catch(fail);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  byId('pad-clear').addEventListener('click', () => { clear(); card?.remove(); card = undefined; });
}

function describe(page: Page, config: PageConfig): void {
  const { spec } = page.detector;
  const [h, w, c] = spec.inputShape;
  const t = spec.threshold;
  byId('meta').textContent = `${spec.classNames.length} classes · input ${h}×${w} ${c === 1 ? 'grey' : c === 3 ? 'RGB' : `${c}-channel`} (other sizes: ${RESIZE_TEXT[spec.resize]}) · ${spec.score.name} score · γ = ${fmt(t.gamma)} (accepts ${pct(t.tpr)} of the ID validation images)`;
  byId('classes').textContent = spec.classNames.join(', ');
  const note = byId('hist-note');
  note.textContent = page.hist
    ? `Each answer's score is placed on the ${page.hist.score} scores of the ${page.hist.count} ID validation images γ was set on; left of γ (shaded) an image is answered “${UNKNOWN}”.`
    : `No ID-validation histogram in this bundle${config.histogramNote ? ` (${config.histogramNote.replace(/^.*?: /, '')})` : ''}.`;
}

function fail(err: unknown): void {
  const box = byId('error');
  box.hidden = false;
  box.textContent = `Error: ${(err as Error)?.message ?? String(err)}`;
  document.body.dataset.state = 'error';
}

async function start(): Promise<void> {
  const config = JSON.parse(byId('ares-page-config').textContent ?? '{}') as PageConfig;
  const status = byId('status');
  status.textContent = 'Loading the model…';
  const detector = await loadDetector('./');
  let hist: ScoreHistogram | null = null;
  if (config.histogram) {
    const res = await fetch(config.histogram);
    if (!res.ok) throw new Error(`${config.histogram}: HTTP ${res.status}`);
    hist = parseScoreHistogram(await res.json(), config.histogram);
  }
  const page: Page = { detector, hist, results: byId('results') };
  describe(page, config);
  setupDrop(page);
  setupPad(page);
  // The loader took webgpu where this browser has it, else tfjs's default (webgl, else cpu): say which.
  const backend = tf.getBackend();
  document.body.dataset.backend = backend;
  status.textContent = `Ready (TensorFlow.js ${tf.version.tfjs}, ${backend} backend). Nothing leaves this browser.`;
  document.body.dataset.state = 'ready';
}

start().catch(fail);
