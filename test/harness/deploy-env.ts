// The GANTRY_* variables a deployment sets, checked against services/env (the one module that
// lists every variable the services read, and which process reads it): a container may set only
// what its own role reads (a generator given GANTRY_GENERATOR_ADDR is a mistake, so is a typo),
// never a launcher-only or test-only variable; ConfigMaps and images only known names. The
// worker is not a reader yet: its container may set known names and TODO_WORKER_PENDING's.
import { ENV_VARS, type EnvReader, envVarsReadBy, KNOWN_ENV_VARS } from '../../services/env/mod.ts';
import { TODO_WORKER_PENDING } from './worker-pending.ts';

export interface EnvSetting {
  name: string;
  /** Where it is set, for messages (e.g. "Deployment/gantry-generator container generator"). */
  where: string;
  /** The process that reads it (a role), or undefined for a ConfigMap, Secret or image default. */
  role?: string;
}

const READERS: readonly string[] = ['generator', 'discriminator', 'scheduler'] satisfies EnvReader[];

function spec(name: string) {
  return (ENV_VARS as Record<string, { setByLauncher?: true; testOnly?: true } | undefined>)[name];
}

export function envNameErrors(settings: readonly EnvSetting[]): string[] {
  const errors: string[] = [];
  for (const { name, where, role } of settings) {
    if (!name.startsWith('GANTRY_')) continue;
    const known = (KNOWN_ENV_VARS as readonly string[]).includes(name);
    if (!known) {
      if (role === 'worker' && TODO_WORKER_PENDING.envNames.includes(name)) continue;
      errors.push(`${where}: ${name} is read by no service (a typo?)`);
      continue;
    }
    if (spec(name)?.setByLauncher) errors.push(`${where}: ${name} is set by the local launcher only`);
    if (spec(name)?.testOnly) errors.push(`${where}: ${name} is a test hook`);
    if (role && READERS.includes(role) && !(envVarsReadBy(role as EnvReader) as string[]).includes(name)) {
      errors.push(`${where}: ${name} is not read by the ${role}`);
    }
  }
  return errors;
}

/** Names on the worker's TODO list that services/env knows by now (the list should lose them). */
export function stalePendingNames(): string[] {
  return TODO_WORKER_PENDING.envNames.filter((n) => (KNOWN_ENV_VARS as readonly string[]).includes(n));
}
