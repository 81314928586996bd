// Resolving one service process's configuration: defaults < environment variables < flags, read
// once in the process's config module (services/<role>/config.ts) and validated by a strict zod
// schema. Errors name the field, where the value came from (GANTRY_GRPC_PORT or --grpc-port), the
// bound, and the value found. Only the variables a binding lists are read; anything else in the
// environment is left to the modules that own it (GANTRY_LOG_FORMAT, GANTRY_WASM_KERNELS, ...).
import { z } from 'zod';
import { clipText } from '../telemetry/clip.ts';

export type ValueKind = 'string' | 'int' | 'number' | 'bool';

export interface Binding {
  /** The config field. */
  key: string;
  /** The environment variable, e.g. GANTRY_GRPC_PORT. */
  env?: string;
  /** The long flag without dashes, e.g. grpc-port. */
  flag?: string;
  kind: ValueKind;
}

export class ProcessConfigError extends Error {
  override readonly name = 'ProcessConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** An environment string converted to the binding's kind; a bad one fails naming the variable. */
function fromEnv(b: Binding, raw: string): unknown {
  const where = `${b.env}=${JSON.stringify(clipText(raw))}`;
  switch (b.kind) {
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ProcessConfigError(b.key, `${b.key} (${b.env}): expected an integer, found ${where}`);
      return Number(raw);
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new ProcessConfigError(b.key, `${b.key} (${b.env}): expected a number, found ${where}`);
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ProcessConfigError(b.key, `${b.key} (${b.env}): expected true/false/1/0, found ${where}`);
    }
  }
}

/** Flags arrive from commander as strings (or booleans); convert like the environment. */
function fromFlag(b: Binding, raw: unknown): unknown {
  if (typeof raw !== 'string' || b.kind === 'string') return raw;
  return fromEnv({ ...b, env: `--${b.flag}` }, raw);
}

export function resolveProcessConfig<S extends z.ZodType>(
  schema: S,
  bindings: readonly Binding[],
  env: NodeJS.ProcessEnv,
  flags: Record<string, unknown>,
): z.infer<S> {
  const merged: Record<string, unknown> = {};
  for (const b of bindings) {
    const raw = b.env !== undefined ? env[b.env] : undefined;
    if (raw !== undefined && raw !== '') merged[b.key] = fromEnv(b, raw);
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const b = bindings.find((x) => x.key === key);
    merged[key] = b ? fromFlag(b, value) : value; // an unbound key reaches the strict schema and fails there
  }
  const result = schema.safeParse(merged);
  if (result.success) return result.data;
  throw configError(result.error.issues[0], bindings, merged);
}

function configError(issue: z.core.$ZodIssue, bindings: readonly Binding[], merged: Record<string, unknown>): ProcessConfigError {
  if (issue.code === 'unrecognized_keys') {
    return new ProcessConfigError(clipText(issue.keys[0]), `unknown setting ${issue.keys.slice(0, 5).map((k) => JSON.stringify(clipText(k))).join(', ')}; known: ${bindings.map((b) => b.key).join(', ')}`);
  }
  const key = String(issue.path[0] ?? '');
  const b = bindings.find((x) => x.key === key);
  const sources = [b?.env, b?.flag ? `--${b.flag}` : undefined].filter(Boolean).join(' or ');
  const where = `${key}${sources ? ` (${sources})` : ''}`;
  if (!(key in merged) && issue.code === 'invalid_type') return new ProcessConfigError(key, `${where}: required but not set`);
  const found = key in merged ? `, found ${clipText(JSON.stringify(merged[key]) ?? String(merged[key]), 80)}` : '';
  return new ProcessConfigError(key, `${where}: ${issue.message}${found}`);
}
