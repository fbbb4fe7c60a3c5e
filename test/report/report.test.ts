import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initEngine } from '../../src/engine/backend.js';
import { buildReport, CHART_IDS, embedFeatures, reportDataFromRun, type ReportData } from '../../src/report/index.js';
import { CHART_CSS, niceTicks, standaloneSvg } from '../../src/report/svg.js';
import { curveChart } from '../../src/report/charts.js';
import { readRun } from '../../src/run/folder.js';
import { chromiumMissing, openBrowser } from '../fixtures/browser.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';
import { runCli, tempDir } from '../run/helpers.js';

const { dir, cleanup } = tempDir('report');
afterAll(cleanup);

function syntheticData(): ReportData {
  return {
    title: 'Run <b>&</b> "quotes"', config: { method: 'ares', note: '<script>alert(1)</script>' },
    detector: { score: 'energy', gamma: 1.5, tpr: 0.95, classNames: ['a', 'b'] },
    accuracy: 0.9,
    metrics: [{ ood: '<img src=x onerror=alert(1)>', score: 'energy', fpr95: 0.2, auroc: 0.9, aupr_in: 0.8, aupr_out: 0.85 }],
    roc: [{ ood: 'noise', points: [{ fpr: 0, tpr: 0 }, { fpr: 0.1, tpr: 0.8 }, { fpr: 1, tpr: 1 }], auroc: 0.9 }],
    scores: { score: 'energy', groups: [{ name: 'ID', kind: 'id', values: [2, 3, 4] }, { name: 'noise', kind: 'ood', values: [0, 1, 1.2] }, { name: 'virtual', kind: 'virtual', values: [0.5, -1] }] },
    umap: { x: [0, 1, 2], y: [1, 0, 2], group: [0, 0, 1], groups: [{ name: 'ID', kind: 'id' }, { name: 'noise', kind: 'ood' }] },
    history: [{ epoch: 1, ce: 2, jsd: null, accuracy: 0.5 }, { epoch: 2, ce: 1, jsd: 0.1, accuracy: 0.7 }],
    samples: { pixmix: ['data:image/png;base64,iVBORw0KGgo='], fractals: ['https://example.com/tracker.png'] },
  };
}

describe('buildReport (pure)', () => {
  it('lays out every figure, escapes every string, and fetches nothing', () => {
    const html = buildReport(syntheticData());
    for (const id of [CHART_IDS.roc, CHART_IDS.histogram, CHART_IDS.umap, CHART_IDS.ce, CHART_IDS.jsd, CHART_IDS.accuracy]) {
      expect(html).toMatch(new RegExp(`<svg id="${id}"`));
    }
    expect(html).not.toMatch(/<script|<img src=x/);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain('Run &lt;b&gt;&amp;&lt;/b&gt; &quot;quotes&quot;');
    // Only inline data: the non-data image URL is dropped.
    expect(html).not.toContain('example.com');
    expect(html.match(/(?:src|href)="(?!data:)[^"]*"/g)).toBeNull();
    expect(buildReport(syntheticData())).toBe(html);
  });

  it('says what is missing instead of drawing empty charts', () => {
    const html = buildReport({ ...syntheticData(), roc: [], scores: null, umap: null, history: [], metrics: [], samples: { pixmix: [], fractals: [] } });
    expect(html).not.toMatch(/<svg/);
    expect(html).toMatch(/No ROC curves/);
    expect(html).toMatch(/No training history/);
    expect(html).toMatch(/No features/);
  });

  it('picks round tick values', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-3.2, 17)).toEqual([0, 5, 10, 15]);
    expect(niceTicks(2, 2)).toEqual([2]);
  });

  it('a standalone chart file carries the style the report page gives its charts', () => {
    const chart = curveChart('c', 'title', [{ name: 'a', points: [[1, 0.5], [2, null], [3, 0.7]] }], 'y');
    const file = standaloneSvg(chart);
    expect(file.startsWith('<svg ')).toBe(true);
    expect(file).toContain(`<style>${CHART_CSS}</style>`);
    expect(file.match(/<svg /g)).toHaveLength(1);
    // Everything after the opening tag is the chart unchanged.
    expect(file.slice(file.indexOf('</style>') + '</style>'.length)).toBe(chart.slice(chart.indexOf('>') + 1));
  });

  it('UMAP layout is deterministic by seed and keeps the groups', () => {
    const d = 4;
    const rows = (n: number, off: number) => Float32Array.from({ length: n * d }, (_, i) => off + Math.sin(i * 1.7) * 0.3);
    const groups = [{ name: 'ID', kind: 'id' as const, features: rows(40, 0) }, { name: 'far', kind: 'ood' as const, features: rows(20, 5) }];
    const a = embedFeatures(d, groups, { seed: 3, nEpochs: 50 });
    const b = embedFeatures(d, groups, { seed: 3, nEpochs: 50 });
    expect(a).toEqual(b);
    expect(a.x).toHaveLength(60);
    expect(a.group.filter((g) => g === 1)).toHaveLength(20);
    expect(a.groups).toEqual([{ name: 'ID', kind: 'id' }, { name: 'far', kind: 'ood' }]);
  });
});

describe('report of a trained run', () => {
  const runDir = join(dir, 'run');
  let run: TinyRun;

  beforeAll(async () => {
    await initEngine({ backend: 'cpu' });
    run = await buildTinyRun(runDir, { seed: 2, report: true });
  });

  it('holds the run\'s numbers', () => {
    const data = reportDataFromRun(readRun(runDir));
    expect(data.accuracy).toBe(run.idAccuracy);
    expect(data.metrics).toEqual(run.metrics);
    expect(data.roc.map((r) => r.ood)).toEqual(run.metrics.map((m) => m.ood));
    // AUROC drawn on the ROC legend equals the one in metrics.json (both exact).
    data.roc.forEach((r, i) => expect(r.auroc).toBeCloseTo(run.metrics[i].auroc, 12));
    expect(data.scores?.groups.map((g) => g.kind)).toEqual(['id', 'ood', 'ood', 'ood', 'virtual']);
    expect(data.umap?.groups.map((g) => g.kind)).toEqual(['id', 'ood', 'ood', 'ood', 'virtual']);
    expect(data.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(data.samples.pixmix.length).toBeGreaterThan(0);
    expect(data.samples.fractals.length).toBeGreaterThan(0);
  });

  it('CLI: ares report --run --out writes the file; a missing run is an error', () => {
    const out = join(dir, 'cli-report.html');
    const r = runCli(['report', '--run', runDir, '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ report: out });
    // Same run, same seed: the same page as the one the fixture wrote (modulo the subtitle).
    const strip = (s: string) => s.replace(/<p class="sub">[^<]*<\/p>/, '');
    expect(strip(readFileSync(out, 'utf8'))).toBe(strip(readFileSync(join(runDir, 'report.html'), 'utf8')));
    const bad = runCli(['report', '--run', join(dir, 'nope')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ares: error: .*nope: run folder not found/);
  });

  it.skipIf(chromiumMissing)('renders in headless Chromium with every chart, no console errors, no network; screenshot', async () => {
    const file = join(runDir, 'report.html');
    const { browser, page, problems } = await openBrowser({ width: 1200, height: 900 });
    const external: string[] = [];
    page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) external.push(r.url()); });
    try {
      await page.goto(pathToFileURL(file).href);
      await page.waitForLoadState('load');
      for (const id of [CHART_IDS.roc, CHART_IDS.histogram, CHART_IDS.umap, CHART_IDS.ce, CHART_IDS.jsd, CHART_IDS.accuracy]) {
        const box = await page.locator(`svg#${id}`).boundingBox();
        expect(box, id).not.toBeNull();
        expect(box!.width * box!.height, id).toBeGreaterThan(10_000);
      }
      expect(await page.locator(`svg#${CHART_IDS.roc} polyline[data-ood]`).count()).toBe(run.metrics.length);
      expect(await page.locator(`svg#${CHART_IDS.histogram} polygon[data-group]`).count()).toBe(5);
      expect(await page.locator(`svg#${CHART_IDS.umap} circle`).count()).toBeGreaterThan(300);
      expect(await page.locator(`#${CHART_IDS.metrics} tr`).count()).toBe(run.metrics.length + 1);
      const imgs = await page.locator(`#${CHART_IDS.pixmix} img, #${CHART_IDS.fractals} img`).evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth));
      expect(imgs.length).toBeGreaterThanOrEqual(16);
      expect(imgs.every((w) => w === 28)).toBe(true);
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report screenshot: ${shot}`);
      expect(existsSync(shot) && statSync(shot).size).toBeGreaterThan(20_000);
      expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
      expect(problems).toEqual([]);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
