// The one module that reads the process environment. Other modules ask it for a variable by name
// (a name listed in variables.ts, checked by the compiler) and get its text or its parsed value.
// Every accessor reads process.env at the call, not at import: the launcher, tests and embedding
// programs set variables after start-up, and a later read must see them.
import { ENV_VARS, type EnvVarName } from './variables.ts';

export { ENV_VARS, KNOWN_ENV_VARS, envVarsReadBy, type EnvKind, type EnvReader, type EnvVarName, type EnvVarSpec } from './variables.ts';
export { parseInteger, type IntegerSpec } from './integer.ts';
export { SettingError, type SettingErrorDetail, type SettingProblem } from './errors.ts';

type ChoiceVar = { [N in EnvVarName]: (typeof ENV_VARS)[N] extends { kind: 'choice' } ? N : never }[EnvVarName];
type PresenceVar = { [N in EnvVarName]: (typeof ENV_VARS)[N] extends { kind: 'presence' } ? N : never }[EnvVarName];
type ChoiceOf<N extends ChoiceVar> = (typeof ENV_VARS)[N]['choices'][number];

/** The variable's text as set ('' included), or undefined when it is not set. */
export function readEnv(name: EnvVarName): string | undefined {
  return process.env[name];
}

/** A choice variable's value when it is one of its choices; undefined when unset or anything else (its default applies). */
export function envChoice<N extends ChoiceVar>(name: N): ChoiceOf<N> | undefined {
  const value = readEnv(name);
  const choices: readonly string[] = ENV_VARS[name].choices;
  return value !== undefined && choices.includes(value) ? (value as ChoiceOf<N>) : undefined;
}

/** A presence variable: on when set to any non-empty text. */
export function envFlag(name: PresenceVar): boolean {
  return (readEnv(name) ?? '') !== '';
}

/**
 * The known variables that are set, for a service's config resolution
 * (services/control/process-config.ts reads the ones its bindings name).
 */
export function serviceEnvironment(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(ENV_VARS) as EnvVarName[]) {
    const value = readEnv(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * The environment of a child process: this process's whole environment (PATH, HOME, NODE_OPTIONS
 * and any GANTRY_* variable a user set) with `overrides` on top.
 */
export function childEnvironment(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
