// Declarative flags for the config-driven commands: one table maps each flag to its config key
// and its parser, so `--help`, validation messages and the config schema stay in step.
import { InvalidArgumentError, Option, type Command } from 'commander';

export type FlagKind = 'int' | 'number' | 'string' | 'bool';

export interface FlagSpec {
  flag: string;
  key: string;
  kind: FlagKind;
  description: string;
  choices?: readonly string[];
}

function parser(spec: FlagSpec): ((v: string) => unknown) | undefined {
  if (spec.kind === 'int') {
    return (v) => {
      if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`expected an integer, got "${v}"`);
      return Number(v);
    };
  }
  if (spec.kind === 'number') {
    return (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
      return n;
    };
  }
  return undefined;
}

export function addFlags(cmd: Command, specs: readonly FlagSpec[]): Command {
  for (const spec of specs) {
    const o = new Option(spec.kind === 'bool' ? `--${spec.flag}` : `--${spec.flag} <value>`, spec.description);
    if (spec.choices) o.choices(spec.choices as string[]);
    const parse = parser(spec);
    if (parse) o.argParser(parse);
    cmd.addOption(o);
  }
  return cmd;
}

/** The config keys of the flags the user actually typed (not commander defaults). */
export function givenFlags(cmd: Command, specs: readonly FlagSpec[]): Record<string, unknown> {
  const opts = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const spec of specs) {
    const name = spec.flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()); // commander's attribute name
    if (opts[name] !== undefined && cmd.getOptionValueSource(name) === 'cli') out[spec.key] = opts[name];
  }
  return out;
}
