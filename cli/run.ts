// The plugin's command line: `kubectl connectors <command> [args] [options]`, global options
// before or after the command. Exit codes as kubectl's: 0 done, 1 failed (`error: …` or the
// server's Status on stderr); can-i answers no with 1 too.

import { Args, parseArgs, UsageError, type FlagDef } from './args.js';
import { api, branches, tags } from './classapi.js';
import { openCluster, globalFlags, type Cluster } from './cluster.js';
import { canI } from './cani.js';
import { commandHelp, helpFlag, rootHelp, type Command, type Context } from './command.js';
import { curl } from './curl.js';
import { errorText } from './errors.js';
import { get } from './get.js';
import { write, type Io } from './io.js';
import { pipelinerun } from './pipelinerun.js';
import { resolve } from './resolve.js';
import { waiting } from './spinner.js';

export const commands: readonly Command[] = [get, branches, tags, api, curl, canI, resolve, pipelinerun];

/** The command's name: the first argument that is neither a global flag nor its value. */
function commandIndex(argv: readonly string[]): number {
  const valued = new Set(
    globalFlags
      .filter((f) => f.kind !== 'bool')
      .flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') return -1;
    if (!arg.startsWith('-') || arg === '-') return i;
    if (valued.has(arg)) i++;
  }
  return -1;
}

export async function run(argv: readonly string[], io: Io): Promise<number> {
  const at = commandIndex(argv);
  const name = at < 0 ? undefined : argv[at];
  const command = commands.find((c) => c.name === name);
  const rest = at < 0 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 1)];
  let cluster: Cluster | undefined;
  try {
    if (!command) {
      const parsed = new Args(parseArgs(rest, [...globalFlags, helpFlag]));
      if (name === undefined || name === 'help') {
        await write(
          parsed.positionals.length > 0 && name === undefined ? io.stderr : io.stdout,
          rootHelp(commands),
        );
        return 0;
      }
      await write(
        io.stderr,
        `error: unknown command "${name}" for "kubectl connectors"\n\nRun 'kubectl connectors --help' for usage.\n`,
      );
      return 1;
    }
    let args: Args;
    try {
      args = new Args(parseArgs(rest, [...command.flags, ...globalFlags, helpFlag] as FlagDef[]));
    } catch (err) {
      if (err instanceof UsageError) return await usageError(io, command, err);
      throw err;
    }
    if (args.bool('help')) {
      await write(io.stdout, commandHelp(command));
      return 0;
    }
    const ctx: Context = {
      io,
      cluster: () => (cluster ??= openCluster(args, io.env)),
      waiting: (text, work) => waiting(io, text, work),
    };
    try {
      return await command.run(ctx, args);
    } catch (err) {
      if (err instanceof UsageError) return await usageError(io, command, err);
      await write(io.stderr, errorText(err, cluster?.where));
      return 1;
    }
  } finally {
    await cluster?.client.close();
  }
}

async function usageError(io: Io, command: Command, err: UsageError): Promise<number> {
  await write(
    io.stderr,
    `error: ${err.message}\nSee 'kubectl connectors ${command.name} --help' for usage.\n`,
  );
  return 1;
}
