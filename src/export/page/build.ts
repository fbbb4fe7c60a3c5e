/**
 * Builds the bundle's try-it page: main.ts (with the histogram helpers) bundled by esbuild into one
 * inline module whose only imports are the bundle's loader.js and tfjs build, placed in the
 * template with the page config, plus the ID-validation histogram file it reads.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AresError } from '../../errors.js';
import type { RunFolder } from '../../run/folder.js';
import { loadEsbuild } from '../esbuild.js';
import { HISTOGRAM_FILE, type ScoreHistogram } from './histogram.js';
import { pageHtml } from './template.js';
import { validationHistogram } from './validation.js';
import { readSelection } from '../../report/read.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Bundle file names the page's script imports at run time. */
export interface PageImports {
  loader: string;
  tfjs: string;
}

export async function buildPageScript(files: PageImports): Promise<string> {
  const entry = [join(here, 'main.ts'), join(here, 'main.js')].find(existsSync);
  if (!entry) throw new AresError(`cannot find the page script next to ${here}`);
  const esbuild = await loadEsbuild();
  const res = await esbuild.build({
    entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2020', write: false,
    logLevel: 'silent', legalComments: 'none', charset: 'utf8',
    plugins: [{
      name: 'bundle-files',
      setup(b) {
        // The page shares the bundle's loader (and so its one tfjs instance) instead of a copy.
        b.onResolve({ filter: /^@tensorflow\/tfjs$/ }, () => ({ path: `./${files.tfjs}`, external: true }));
        b.onResolve({ filter: /^\.\.\/loader\.js$/ }, () => ({ path: `./${files.loader}`, external: true }));
      },
    }],
  });
  return res.outputFiles[0].text;
}

export interface BuiltPage {
  html: string;
  /** Written as HISTOGRAM_FILE beside index.html, when the run has validation scores. */
  histogram: ScoreHistogram | null;
  /** Why there is no histogram. */
  note?: string;
}

export async function buildPage(run: Pick<RunFolder, 'detector' | 'paths'>, files: PageImports): Promise<BuiltPage> {
  const { histogram, note } = validationHistogram(run);
  const script = await buildPageScript(files);
  const selection = readSelection(run.paths.selection);
  const html = pageHtml(script, { histogram: histogram ? HISTOGRAM_FILE : null, ...(note ? { histogramNote: note } : {}), ...(selection ? { selection } : {}) });
  return { html, histogram, ...(note ? { note } : {}) };
}
