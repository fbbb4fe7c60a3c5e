import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_PORT, serveBundle } from '../export/page/server.js';

/** `ares serve --bundle DIR [--port N]`: the bundle's try-it page on the loopback address. */
export function register(program: Command): void {
  program.command('serve')
    .description('serve an exported bundle (its index.html: drop images, see the answer) on 127.0.0.1')
    .requiredOption('--bundle <dir>', 'bundle folder (from ares export)')
    .option('--port <n>', `port (default ${DEFAULT_PORT}; 0 picks a free one)`, (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('expected an integer from 0 to 65535');
      return Number(v);
    })
    .action(async (o: { bundle: string; port?: number }) => {
      const server = await serveBundle(o.bundle, { port: o.port });
      process.stdout.write(`serving ${o.bundle} at ${server.url} (loopback only; Ctrl-C to stop)\n`);
      const stop = () => { void server.close().then(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
