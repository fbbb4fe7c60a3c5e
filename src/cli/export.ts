import type { Command } from 'commander';
import { exportBundle } from '../export/bundle.js';

/** `ares export --run DIR --out DIR`: a self-contained detector bundle for the browser and Node. */
export function register(program: Command): void {
  program.command('export')
    .description('write a self-contained bundle (tfjs model, ares.json, loader.js with types, tfjs itself) that loads in a browser or Node')
    .requiredOption('--run <dir>', 'run folder (from ares train)')
    .requiredOption('--out <dir>', 'bundle folder to write (new, empty, or an earlier bundle, which is replaced)')
    .option('--json', 'print {out, files} as JSON')
    .action(async (o: { run: string; out: string; json?: boolean }) => {
      const r = await exportBundle(o.run, o.out);
      process.stdout.write(o.json ? JSON.stringify({ out: r.outDir, files: r.files }, null, 2) + '\n'
        : `wrote ${r.outDir}: ${r.files.join(', ')}\n`);
    });
}
