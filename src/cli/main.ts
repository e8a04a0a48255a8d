#!/usr/bin/env node
/**
 * `vectors` — one CLI for operators (bin/vectors.js runs it). Each command
 * lives in `commands/<name>.ts` as a `registerX(program, io)`; the options
 * several commands share are in `common.ts`. `vectors <command> --help`
 * lists a command's options with their defaults and environment variables.
 *
 * Exit codes: 0 done, 1 the command ran and failed (one JSON log line on
 * stderr), 2 the command line was wrong (one plain line on stderr naming the
 * problem; nothing was done).
 */
import { Command, CommanderError } from 'commander';
import { UsageError, type VectorsError } from '../errors';
import { registerActivate } from './commands/activate';
import { registerDemo } from './commands/demo';
import { registerGenerate } from './commands/generate';
import { registerProduce } from './commands/produce';
import { registerTail } from './commands/tail';
import { registerProvision } from './commands/provision';
import { registerQuery } from './commands/query';
import { registerPublish } from './commands/publish';
import { registerRetire } from './commands/retire';
import { registerRollback } from './commands/rollback';
import { registerRollforward } from './commands/rollforward';
import { registerRun } from './commands/run';
import { registerStatus } from './commands/status';
import { ExitCodes, logLine, processIo, suggest, type CliIo } from './common';

const HELP_FOOTER = `
Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (for the local stack: eval "$(bash scripts/stack.sh env)"),
  and VECTORS_* for most options (each command's --help names them).

Exit codes:
  0  done
  1  the command ran and failed (broker, registry, invalid data, a refused switch, a timeout)
  2  usage: unknown command or option, missing or malformed value; nothing was done

Examples:
  vectors generate --out world
  vectors provision
  vectors publish vectors.jsonl --snapshot-id s1 --model als --opt lambda=0.1
  vectors activate-when-ready s1
  vectors produce world/events.jsonl --rate 2000
  vectors tail recommendation-candidates
  vectors query user u1 --k 10
  vectors status
  vectors publish --help`;

/** The whole command line: every command registered, errors turned into exceptions for {@link main}. */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('vectors')
    .description('Realtime user vectors on Kafka: provision topics, run topologies, publish and switch snapshots, generate, send and read data.')
    .usage('<command> [options]')
    // Settings made before commands are added are inherited by them.
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showSuggestionAfterError(true)
    .helpCommand('help [command]', 'show the help of a command')
    .addHelpText('after', HELP_FOOTER);

  registerProvision(program, io);
  registerRun(program);
  registerPublish(program, io);
  registerStatus(program, io);
  registerActivate(program, io);
  registerRollback(program, io);
  registerRollforward(program, io);
  registerDemo(program, io);
  registerRetire(program, io);
  registerGenerate(program, io);
  registerProduce(program, io);
  registerTail(program, io);
  registerQuery(program, io);

  // Usage errors as one line naming the command and where its help is (commander writes "error: ...\n(Did you mean ...?)").
  const all = (cmd: Command, path: string): [Command, string][] => [[cmd, path], ...cmd.commands.flatMap((c) => all(c, `${path} ${c.name()}`))];
  for (const [cmd, name] of all(program, 'vectors')) {
    cmd.configureOutput({
      ...cmd.configureOutput(),
      outputError: (str, write) =>
        write(
          `${name}: ${str
            .trim()
            .replace(/\s*\n\s*/g, ' ')
            .replace(/\.$/, '')}; see '${name} --help'\n`,
        ),
    });
  }
  program.on('command:*', (operands: string[]) => {
    const known = program.commands.map((c) => c.name());
    const close = suggest(operands[0]!, known);
    throw new UsageError(`unknown command '${operands[0]}'${close.length ? ` (did you mean ${close.join(' or ')}?)` : ''}; commands: ${known.join(', ')}`);
  });
  return program;
}

/**
 * Runs one command line (without `node` and the script) and returns the exit
 * code: 0 done, 1 failed, 2 usage. Never throws and never exits the process
 * (but `run` exits it on SIGTERM/SIGINT after stopping).
 */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let program: Command;
  try {
    program = buildProgram(io);
    await program.parseAsync(argv, { from: 'user' });
    return ExitCodes.OK;
  } catch (err) {
    // Commander wrote the message or the help already; `--help` and `help` exit 0, no command (help on stderr) and bad usage 2.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCodes.OK : ExitCodes.USAGE;
    if (err instanceof UsageError) {
      io.err(`vectors: ${err.message}\n`);
      return ExitCodes.USAGE;
    }
    const e = err as Partial<VectorsError>;
    logLine('error', e.message ?? String(err), { ...(e.code ? { code: e.code } : {}), ...(e.name && !e.code ? { error: e.name } : {}) });
    return ExitCodes.FAILED;
  }
}

if (require.main === module) {
  // As bin/vectors.js: a closed stdout ends quietly; exit when done, whatever connection a client left open.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
