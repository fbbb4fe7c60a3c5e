import type { Command } from 'commander';
import { exportBundle } from '../export/bundle.js';

/** `ares export --run DIR --out DIR`: a self-contained detector bundle for the browser and Node. */
export function register(program: Command): void {
  program.command('export')
    .description('write a self-contained bundle (tfjs model, ares.json, loader.js with types, tfjs itself, index.html to try it) that loads in a browser or Node')
    .requiredOption('--run <dir>', 'run folder (from ares train)')
    .requiredOption('--out <dir>', 'bundle folder to write (new, empty, or an earlier bundle, which is replaced)')
    .option('--json', 'print {out, files, notes} as JSON')
    .action(async (o: { run: string; out: string; json?: boolean }) => {
      const r = await exportBundle(o.run, o.out);
      process.stdout.write(o.json ? JSON.stringify({ out: r.outDir, files: r.files, notes: r.notes }, null, 2) + '\n'
        : `wrote ${r.outDir}: ${r.files.join(', ')}\ntry it: ares serve --bundle ${r.outDir}\n`);
      for (const n of r.notes) process.stderr.write(`ares: note: ${n}\n`);
    });
}
