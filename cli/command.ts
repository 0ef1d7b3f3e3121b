// What a subcommand is, and its --help as kubectl lays one out: what it does, Examples, Options
// (each flag with its default, its text on the next line after a tab), Usage.

import { UsageError, type Args, type FlagDef } from './args.js';
import { globalFlags, type Cluster } from './cluster.js';
import type { Io } from './io.js';

export interface Context {
  io: Io;
  /** The cluster, opened on first use (help and usage errors never read a kubeconfig). */
  cluster(): Cluster;
  /** `work`, with `text` as a waiting line on a terminal while it takes long. */
  waiting<T>(text: string, work: Promise<T>): Promise<T>;
}

export interface Command {
  name: string;
  /** One line, for the list of commands. */
  summary: string;
  /** What it does, for its --help. */
  description: string;
  /** After the command's name: `[NAME] [options]`. */
  usage: string;
  /** `# what it does` lines, each followed by a command line. */
  examples: string;
  flags: FlagDef[];
  run(ctx: Context, args: Args): Promise<number>;
}

export const helpFlag: FlagDef = {
  name: 'help',
  short: 'h',
  kind: 'bool',
  default: false,
  help: 'Show this help.',
};

export const outputFlag = (formats: readonly string[], extra = ''): FlagDef => ({
  name: 'output',
  short: 'o',
  kind: 'string',
  value: 'FORMAT',
  default: '',
  help: `Output format. One of: (${formats.join(', ')}).${extra}`,
});

/** The -o the command was given ('' for none), one of `allowed`. */
export function outputFormat(args: Args, allowed: readonly string[]): string {
  const o = args.str('output');
  if (o !== '' && !allowed.includes(o)) {
    throw new UsageError(
      `unable to match a printer suitable for the output format "${o}", allowed formats are: ${[...allowed].sort().join(',')}`,
    );
  }
  return o;
}

function flagLine(f: FlagDef): string {
  const shown =
    f.kind === 'bool'
      ? String(f.default ?? false)
      : f.kind === 'list'
        ? '[]'
        : `'${String(f.default ?? '')}'`;
  return `    ${f.short ? `-${f.short}, ` : ''}--${f.name}=${shown}:\n\t${f.help}\n`;
}

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n');
}

export function commandHelp(c: Command): string {
  return [
    `${c.description.trim()}\n`,
    `Examples:\n${indent(c.examples)}\n`,
    `Options:\n${c.flags.map(flagLine).join('\n')}`,
    `Global options:\n${[...globalFlags, helpFlag].map(flagLine).join('\n')}`,
    `Usage:\n  kubectl connectors ${c.name} ${c.usage}\n`,
  ].join('\n');
}

export function rootHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return [
    'Use Connectors from the command line: list them with their status and APIs, call their class APIs\n' +
      "and their tools through the API server (the Connector's credential never leaves the cluster), check\n" +
      'what RBAC allows, and resolve ResourceInterfaces into the params and workspaces of a Tekton\n' +
      'PipelineRun.\n',
    `Commands:\n${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}\n`,
    `Global options:\n${[...globalFlags, helpFlag].map(flagLine).join('\n')}`,
    'Usage:\n  kubectl connectors [command] [options]\n',
    'Use "kubectl connectors <command> --help" for more information about a given command.\n',
  ].join('\n');
}
