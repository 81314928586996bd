// services/env: the integer parser (grammar, bounds, an error naming the setting, the bound and
// the value), the catalogue of variables against the config bindings that read them and the
// README that documents them, the accessors (read at each call), and that no other module under
// services/ reads process.env.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  ENV_VARS, KNOWN_ENV_VARS, SettingError, childEnvironment, envChoice, envFlag, envVarsReadBy, parseInteger, readEnv,
  serviceEnvironment, type EnvReader, type EnvVarName,
} from '../../services/env/mod.ts';
import { generatorBindings } from '../../services/generator/config.ts';
import { discriminatorBindings } from '../../services/discriminator/config.ts';
import { schedulerBindings } from '../../services/scheduler/config.ts';
import { workerBindings } from '../../services/worker/config.ts';
import { parseWasmThreads } from '../../services/core/backend/wasm-parallel/settings.ts';
import { WasmThreadsSettingError } from '../../services/core/backend/errors.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { formatError } from '../../services/cli/errors.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Runs fn with the given variables set (undefined: unset), restoring them afterwards. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const assign = (v: Record<string, string | undefined>): void => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  assign(vars);
  try {
    return fn();
  } finally {
    assign(saved);
  }
}

function settingError(fn: () => unknown): SettingError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SettingError) return e;
    throw e;
  }
  throw new assert.AssertionError({ message: 'expected a SettingError, nothing was thrown' });
}

test('parseInteger: decimal integers, blanks trimmed, -0 is 0', () => {
  const spec = { setting: 'GANTRY_X' };
  assert.equal(parseInteger('42', spec), 42);
  assert.equal(parseInteger(' 7\n', spec), 7);
  assert.equal(parseInteger('-3', spec), -3);
  assert.ok(Object.is(parseInteger('-0', spec), 0));
  assert.equal(parseInteger('9007199254740991', spec), Number.MAX_SAFE_INTEGER);
  assert.equal(parseInteger('16', { setting: 'GANTRY_X', min: 1, max: 16 }), 16);
  assert.equal(parseInteger('1', { setting: 'GANTRY_X', min: 1, max: 16 }), 1);
});

test('parseInteger: anything else is not-an-integer, naming the setting and the text found', () => {
  for (const bad of ['', '  ', '2.5', '1e3', '0x10', '+2', 'two', '1 2', '9007199254740993', '-', 'NaN', 'Infinity']) {
    const e = settingError(() => parseInteger(bad, { setting: 'GANTRY_HEARTBEAT_MS' }));
    assert.equal(e.kind, 'not-an-integer', JSON.stringify(bad));
    assert.equal(e.setting, 'GANTRY_HEARTBEAT_MS');
    assert.equal(e.value, bad.trim());
    assert.equal(e.message, `GANTRY_HEARTBEAT_MS: expected an integer; found '${bad.trim()}'`);
  }
});

test('parseInteger: outside the bounds is out-of-range, the message giving the bound and the meaning', () => {
  const spec = { setting: 'GANTRY_WASM_THREADS', min: 1, max: 16, meaning: 'threads' };
  for (const [bad, found] of [['0', '0'], ['17', '17'], [' -1 ', '-1']]) {
    const e = settingError(() => parseInteger(bad, spec));
    assert.equal(e.kind, 'out-of-range');
    assert.deepEqual(e.bound, { min: 1, max: 16 });
    assert.equal(e.message, `GANTRY_WASM_THREADS: expected an integer from 1 to 16 (threads); found '${found}'`);
  }
  const e = settingError(() => parseInteger('x', spec));
  assert.equal(e.kind, 'not-an-integer');
  assert.equal(e.message, "GANTRY_WASM_THREADS: expected an integer from 1 to 16 (threads); found 'x'");
});

test('GANTRY_WASM_THREADS: parsed with its catalogue bounds into a WasmThreadsSettingError (a SettingError)', () => {
  assert.deepEqual([ENV_VARS.GANTRY_WASM_THREADS.min, ENV_VARS.GANTRY_WASM_THREADS.max], [1, 16]);
  assert.equal(parseWasmThreads(' 3 ', 'GANTRY_WASM_THREADS'), 3);
  assert.ok(parseWasmThreads('', 'GANTRY_WASM_THREADS') >= 1, 'blank: the default');
  const thrown = (() => {
    try {
      parseWasmThreads('17', 'GANTRY_WASM_THREADS');
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(thrown instanceof WasmThreadsSettingError && thrown instanceof SettingError, 'a WasmThreadsSettingError');
  assert.equal(thrown.name, 'WasmThreadsSettingError');
  assert.equal(thrown.kind, 'out-of-range');
  assert.equal(thrown.setting, 'GANTRY_WASM_THREADS');
  assert.equal(thrown.message, "GANTRY_WASM_THREADS: expected an integer from 1 to 16 (threads the wasm backend computes on, main thread included); found '17'");
});

test('catalogue: GANTRY_* names, each described; integers with bounds, choices with choices', () => {
  assert.deepEqual([...KNOWN_ENV_VARS].sort(), Object.keys(ENV_VARS).sort());
  assert.equal(new Set(KNOWN_ENV_VARS).size, KNOWN_ENV_VARS.length);
  for (const name of KNOWN_ENV_VARS) {
    const spec: { meaning: string; kind: string; source: string; readIn?: string; default: string; min?: number; max?: number; choices?: readonly string[]; readBy: readonly string[] } = ENV_VARS[name];
    assert.match(name, /^GANTRY_[A-Z0-9_]+$/);
    assert.ok(spec.meaning.length > 10, `${name}: a meaning`);
    assert.ok(spec.default.length > 0, `${name}: a default`);
    assert.ok(spec.readBy.length > 0, `${name}: read by someone`);
    if (spec.source === 'module') assert.ok(spec.readIn, `${name}: the module that reads it`);
    if (spec.min !== undefined || spec.max !== undefined) {
      assert.equal(spec.kind, 'integer', `${name}: bounds on an integer`);
      assert.ok(spec.min! <= spec.max!, `${name}: min <= max`);
    }
    if (spec.kind === 'choice') assert.ok((spec.choices ?? []).length >= 2, `${name}: its choices`);
  }
});

test('catalogue: exactly the variables the config bindings read, with the same parsing and readers', () => {
  const byRole: [EnvReader, readonly { env?: string; kind: string }[]][] = [
    ['generator', generatorBindings], ['discriminator', discriminatorBindings], ['scheduler', schedulerBindings],
    ['worker', workerBindings],
  ];
  const kinds: Record<string, string> = { string: 'string', int: 'integer', number: 'number', bool: 'boolean' };
  const bound = new Set<string>();
  for (const [role, bindings] of byRole) {
    for (const b of bindings) {
      if (b.env === undefined) continue;
      bound.add(b.env);
      assert.ok(b.env in ENV_VARS, `${b.env} (${role}) is in services/env/variables.ts`);
      const spec = ENV_VARS[b.env as EnvVarName];
      assert.equal(spec.source, 'config', b.env);
      assert.equal(spec.kind, kinds[b.kind], `${b.env}: parsed as ${b.kind}`);
      assert.ok(envVarsReadBy(role).includes(b.env as EnvVarName), `${b.env}: read by ${role}`);
    }
    for (const name of envVarsReadBy(role)) {
      if (ENV_VARS[name].source !== 'config') continue;
      assert.ok(bindings.some((b) => b.env === name), `${name} claims ${role} reads it through its config, which does not bind it`);
    }
  }
  assert.deepEqual(KNOWN_ENV_VARS.filter((n) => ENV_VARS[n].source === 'config').sort(), [...bound].sort());
  assert.ok(envVarsReadBy('generator').includes('GANTRY_DISCRIMINATOR_ADDR'));
  assert.ok(!envVarsReadBy('generator').includes('GANTRY_GENERATOR_ADDR'));
});

test('catalogue: the READMEs name only known variables, and the control README names every config variable', () => {
  const control = readFileSync(path.join(REPO, 'services/control/README.md'), 'utf8');
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const named = (text: string): string[] => [...new Set(text.match(/GANTRY_[A-Z0-9_]+/g) ?? [])];
  for (const name of [...named(control), ...named(readme)]) {
    assert.ok((KNOWN_ENV_VARS as readonly string[]).includes(name), `${name} is documented but not in services/env/variables.ts`);
  }
  for (const name of KNOWN_ENV_VARS.filter((n) => ENV_VARS[n].source === 'config')) {
    assert.ok(control.includes(name), `${name} is missing from services/control/README.md`);
  }
});

test('accessors read the environment at each call', () => {
  withEnv({ GANTRY_NATS_URL: undefined }, () => assert.equal(readEnv('GANTRY_NATS_URL'), undefined));
  withEnv({ GANTRY_NATS_URL: 'nats://x:1' }, () => assert.equal(readEnv('GANTRY_NATS_URL'), 'nats://x:1'));
  withEnv({ GANTRY_NATS_URL: '' }, () => assert.equal(readEnv('GANTRY_NATS_URL'), ''));
  for (const [value, expected] of [['pretty', 'pretty'], ['json', 'json'], ['Pretty', undefined], ['', undefined], [undefined, undefined]]) {
    withEnv({ GANTRY_LOG_FORMAT: value }, () => assert.equal(envChoice('GANTRY_LOG_FORMAT'), expected, String(value)));
  }
  withEnv({ GANTRY_LOG_LEVEL: 'warn' }, () => assert.equal(envChoice('GANTRY_LOG_LEVEL'), 'warn'));
  for (const [value, expected] of [[undefined, false], ['', false], ['0', true], ['1', true]] as const) {
    withEnv({ GANTRY_DEBUG: value }, () => assert.equal(envFlag('GANTRY_DEBUG'), expected, String(value)));
  }
});

test('serviceEnvironment holds the known variables that are set; childEnvironment the whole environment plus overrides', () => {
  withEnv({ GANTRY_RUN_ID: 'r1', GANTRY_RUN_DIR: undefined, GANTRY_NOT_A_SETTING: 'x' }, () => {
    const env = serviceEnvironment();
    assert.equal(env.GANTRY_RUN_ID, 'r1');
    assert.ok(!('GANTRY_RUN_DIR' in env));
    assert.ok(!('GANTRY_NOT_A_SETTING' in env));
    assert.ok(!('PATH' in env));
    const child = childEnvironment({ GANTRY_RUN_DIR: '/tmp/run' });
    assert.equal(child.PATH, process.env.PATH);
    assert.equal(child.GANTRY_NOT_A_SETTING, 'x');
    assert.equal(child.GANTRY_RUN_DIR, '/tmp/run');
    assert.equal(process.env.GANTRY_RUN_DIR, undefined, 'the parent environment is not changed');
  });
});

test('the logger and the CLI error formatter follow their variables', () => {
  const logged = (vars: Record<string, string | undefined>): string => withEnv(vars, () => {
    const stream = new PassThrough();
    const log = createLogger({ component: 't', stream });
    log.info('hello', { a: 1 });
    log.warn('careful');
    return String(stream.read() ?? '');
  });
  const json = logged({ GANTRY_LOG_FORMAT: undefined, GANTRY_LOG_LEVEL: undefined }).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(json.map((r) => [r.level, r.msg]), [['info', 'hello'], ['warn', 'careful']]);
  assert.equal(logged({ GANTRY_LOG_FORMAT: 'pretty', GANTRY_LOG_LEVEL: 'warn' }), '[t] WARN careful\n');
  assert.equal(logged({ GANTRY_LOG_FORMAT: 'bogus', GANTRY_LOG_LEVEL: 'bogus' }).trim().split('\n').length, 2, 'unknown values: json at info');
  const err = new Error('outer', { cause: new Error('inner') });
  assert.equal(withEnv({ GANTRY_DEBUG: undefined }, () => formatError(err)), 'outer\n  caused by: inner');
  assert.equal(withEnv({ GANTRY_DEBUG: '1' }, () => formatError(err)), err.stack);
});

test('no module under services/ but services/env reads process.env', () => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (path.relative(REPO, p) !== path.join('services', 'env') && entry.name !== 'generated') walk(p);
      } else if (/\.(ts|js|mjs)$/.test(entry.name) && /process\s*\.\s*env\b|process\[['"]env['"]\]/.test(readFileSync(p, 'utf8'))) {
        offenders.push(path.relative(REPO, p));
      }
    }
  };
  walk(path.join(REPO, 'services'));
  assert.deepEqual(offenders, []);
});
