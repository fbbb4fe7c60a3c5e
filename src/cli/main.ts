import { Command, CommanderError } from 'commander';
import { AresError } from '../errors.js';
import { fsError } from '../util/fs.js';
import { BACKEND_REQUESTS } from '../engine/backend-names.js';
import { BACKEND_COMMANDS, backendOption } from './backend-option.js';

/**
 * Each command lives in its own file under src/cli/ and exports `register(program)`.
 * Commands parse arguments and call the library; nothing a library user needs lives here.
 */
const COMMANDS = ['data', 'train', 'fit', 'eval', 'metrics', 'benchmark', 'bench', 'predict', 'export', 'serve', 'report', 'demo'];

/**
 * Only the invoked command's module is loaded (faster start, and one command's heavy imports cannot
 * break another); `ares --help` or an unknown command loads them all so commander can list them.
 */
function commandsFor(argv: string[]): string[] {
  const first = argv.slice(2).find((a) => !a.startsWith('-') && !BACKEND_VALUES.has(a));
  return first && COMMANDS.includes(first) ? [first] : COMMANDS;
}
const BACKEND_VALUES = new Set<string>(BACKEND_REQUESTS);

export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('ares')
    .description('ARES out-of-distribution detection for image classifiers (TensorFlow.js)')
    .addOption(backendOption())
    .exitOverride();
  for (const name of commandsFor(argv)) {
    const mod = await import(`./${name}.js`).catch((err: NodeJS.ErrnoException) => {
      if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`${name}.`)) return null;
      throw err;
    });
    mod?.register(program);
  }
  for (const cmd of program.commands) if (BACKEND_COMMANDS.includes(cmd.name())) cmd.addOption(backendOption());
  program.hook('preAction', (cmd, action) => {
    // The command's own --backend (after its name) wins over the program's (before it).
    const flag = (action.opts().backend ?? cmd.opts().backend) as string | undefined;
    if (flag) process.env.ARES_BACKEND = flag;
  });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

function reportError(err: unknown): number {
  // A file-system failure no command named (a full or read-only disk, a file where a folder should
  // be) is still the user's environment, not a bug: one line naming the path Node reports.
  err = fsError(err, undefined, 'file system error');
  if (err instanceof CommanderError) {
    // commander already printed its message (usage errors, --help, --version).
    return err.exitCode;
  }
  if (err instanceof AresError) {
    process.stderr.write(`ares: error: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`ares: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
