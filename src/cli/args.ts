import { ConfigError } from '../errors';

/** Parsed command line: positional words, `--flag value` / `--flag=value` options, and repeatable `--opt k=v`. */
export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string>;
  opts: Record<string, string>;
}

const BOOLEAN_FLAGS = new Set(['help', 'json']);

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let value = inline;
    if (value === undefined) {
      if (BOOLEAN_FLAGS.has(name)) value = 'true';
      else {
        value = argv[++i];
        if (value === undefined) throw new ConfigError(`option --${name} needs a value`);
      }
    }
    if (name === 'opt') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new ConfigError(`--opt takes key=value, got '${value}'`);
      opts[value.slice(0, eq)] = value.slice(eq + 1);
    } else flags.set(name, value);
  }
  return { positional, flags, opts };
}

/** A flag, else an environment variable, else the default. */
export function setting(args: ParsedArgs, flag: string, env: string, fallback?: string): string | undefined {
  return args.flags.get(flag) ?? process.env[env] ?? fallback;
}

export function requiredSetting(args: ParsedArgs, flag: string, env: string): string {
  const v = setting(args, flag, env);
  if (v === undefined || v === '') throw new ConfigError(`missing --${flag} (or ${env}); for the local stack: eval "$(bash scripts/stack.sh env)"`);
  return v;
}

export function intSetting(args: ParsedArgs, flag: string, env: string, fallback: number): number {
  const raw = setting(args, flag, env);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`--${flag} (${env}) must be a positive integer, got '${raw}'`);
  return n;
}
