// Hostile configuration: the training config parser (in process, for the bulk), config files
// through loadConfig, the service processes' environment/flag resolver, and a sample of real
// `bin/gantry.js` invocations (spawned: slow to start, so few). Each must fail with a typed error
// (ConfigError, ProcessConfigError; exit 1 or 2 for the CLI) whose message names the key.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { resolveDiscriminatorConfig } from '../../services/discriminator/config.ts';
import { resolveGeneratorConfig } from '../../services/generator/config.ts';
import { classifierTrainSchema, ganTrainSchema, loadConfig, parseConfig } from '../../services/train/config.ts';
import { GANTRY_BIN } from '../harness/cluster.ts';
import { type Answer, type CaseSpec, MAX_MESSAGE_CHARS } from './tally.ts';

const answerOf = (fn: () => unknown): Promise<Answer> =>
  Promise.resolve().then(fn).then(() => ({}), (err: Error) => ({ kind: err?.name, message: err?.message }));

type Kind = 'int' | 'number' | 'string' | 'bool' | 'enum';
/** The training settings, their kind and values outside their documented bounds. */
const GAN_KEYS: [string, Kind, unknown[]][] = [
  ['seed', 'int', [-1, 2 ** 32, 0.5]], ['batchSize', 'int', [0, -1, 4097, 1.5, 2 ** 53]], ['beta2', 'number', [0, 1, -0.5, 1e308]],
  ['lrDecay', 'bool', []], ['checkpointEvery', 'int', [0, 1e9 + 1]], ['keepCheckpoints', 'int', [0, 1001]], ['out', 'string', ['']], ['data', 'string', ['']],
  ['backend', 'enum', ['cuda', '', 'WASM']], ['resume', 'bool', []], ['preset', 'enum', ['resnet', '', 'DCGAN']], ['loss', 'enum', ['nope', 'wgan']],
  ['iterations', 'int', [0, -5, 1e9 + 1, 2.5]], ['dSteps', 'int', [0, 101]], ['lrG', 'number', [0, -1e-3, 1.01, 1e308]], ['lrD', 'number', [0, 2]],
  ['beta1', 'number', [-0.1, 1, 1.5]], ['gpLambda', 'number', [-1, 1e4 + 1]], ['gEma', 'number', [-0.1, 1]], ['standingStats', 'int', [-1, 10001, 0.5]],
  ['zDim', 'int', [0, 1025]], ['zMixture', 'int', [1, -1, 1025]], ['zSpread', 'number', [0.05, 11]], ['gWidth', 'int', [0, 1025]], ['dWidth', 'int', [0, 1025]],
  ['dLayers', 'int', [1, 6]], ['gLayers', 'int', [1, 7]], ['gKernel', 'int', [4, 1, 7]], ['sampleEvery', 'int', [0]], ['evalEvery', 'int', [-1]],
  ['evalSamples', 'int', [99, 100001]], ['classifier', 'string', ['']],
];
const CLASSIFIER_KEYS: [string, Kind, unknown[]][] = [
  ['epochs', 'int', [0, 1001]], ['maxSteps', 'int', [-1]], ['lr', 'number', [0, 2]], ['beta1', 'number', [1]], ['width', 'int', [0]], ['denseUnits', 'int', [0, 8193]],
  ['validationSize', 'int', [99, 30001]], ['evalEvery', 'int', [0]], ['patience', 'int', [0, 1001]], ['stopBelowValLoss', 'number', [0, -1]], ['preset', 'enum', ['gan']],
];
/** Values of the wrong JSON type for each kind. */
const WRONG_TYPE: Record<Kind, [string, unknown][]> = {
  int: [['null', null], ['true', true], ['"8"', '8'], ['[8]', [8]], ['{}', {}]],
  number: [['null', null], ['false', false], ['"1e-3"', '1e-3'], ['[]', []]],
  string: [['null', null], ['7', 7], ['true', true], ['["a"]', ['a']]],
  bool: [['null', null], ['"true"', 'true'], ['1', 1], ['{}', {}]],
  enum: [['null', null], ['0', 0], ['["mlp"]', ['mlp']]],
};

export function configCases(dir: string): CaseSpec[] {
  const cases: CaseSpec[] = [];
  const parse = (schema: typeof ganTrainSchema | typeof classifierTrainSchema, label: string, input: unknown, names: RegExp, what: string): void => {
    cases.push({ name: `${label}: ${what}`, expect: ['ConfigError'], names, send: () => answerOf(() => parseConfig(schema, input, 'hostile')) });
  };
  for (const [schema, label, keys] of [[ganTrainSchema, 'gan config', GAN_KEYS], [classifierTrainSchema, 'classifier config', CLASSIFIER_KEYS]] as const) {
    for (const [key, kind, outOfRange] of keys) {
      for (const [what, v] of WRONG_TYPE[kind]) parse(schema, label, { [key]: v }, new RegExp(`${key}: `), `${key} = ${what}`);
      for (const v of outOfRange) parse(schema, label, { [key]: v }, new RegExp(`${key}: `), `${key} = ${JSON.stringify(v)} (out of range)`);
    }
    for (const [what, input] of [['null', null], ['an array', [1]], ['a string', 'gan'], ['a number', 7]] as const) parse(schema, label, input, /\(root\)|expected/, `the whole config is ${what}`);
    for (const key of ['iteration', 'lr_g', 'learningRate', 'constructor', 'toString', 'k'.repeat(100_000)]) {
      parse(schema, label, { [key]: 1 }, /unknown key/, `unknown key "${key.slice(0, 16)}" (${key.length} chars)`);
    }
    parse(schema, label, JSON.parse('{"__proto__": {"batchSize": 0}}'), /unknown key/, 'unknown key "__proto__" (an own property from JSON)');
    parse(schema, label, Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`unknown${i}`, i])), /unknown key/, '1000 unknown keys');
  }
  parse(ganTrainSchema, 'gan config', { preset: 'mlp', dLayers: 3 }, /dLayers/, 'mlp with dLayers 3');
  parse(ganTrainSchema, 'gan config', { preset: 'mlp', gLayers: 4 }, /gLayers/, 'mlp with gLayers 4');
  parse(ganTrainSchema, 'gan config', { preset: 'dcgan', gKernel: 3 }, /gKernel/, 'gKernel 3 without gLayers 3');

  // Config files through loadConfig: each names the file.
  const files: [string, string | Buffer][] = [
    ['empty', ''], ['not JSON', '{batchSize: 8'], ['a JSON array', '[1, 2]'], ['JSON null', 'null'], ['a JSON string', '"mlp"'], ['a JSON number', '8'],
    ['truncated', '{"batchSize": 8, "pre'], ['with an unknown key', '{"batchSze": 8}'], ['with a wrong type', '{"batchSize": "8"}'],
    ['out of range', '{"iterations": 0}'], ['binary garbage', Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x7b])], ['a UTF-16 BOM', Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00])],
    ['with 1000 unknown keys', JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])))],
  ];
  for (const [what, body] of files) {
    const file = path.join(dir, `config-${cases.length}.json`);
    cases.push({ name: `config file ${what}`, expect: ['ConfigError'], names: /config-\d+\.json|batchS|iterations|unknown key/,
      send: async () => { await fsp.writeFile(file, body); return answerOf(() => loadConfig(ganTrainSchema, {}, file)); } });
  }
  cases.push({ name: 'config file that does not exist', expect: ['ConfigError'], names: /nope\.json/, send: () => answerOf(() => loadConfig(ganTrainSchema, {}, path.join(dir, 'nope.json'))) });
  cases.push({ name: 'config file that is a directory', expect: ['ConfigError'], names: new RegExp(path.basename(dir)), send: () => answerOf(() => loadConfig(ganTrainSchema, {}, dir)) });

  // Service processes' settings (environment; flags go through the same conversion).
  const env = { GANTRY_RUN_ID: 'r', GANTRY_RUN_DIR: dir, GANTRY_GRPC_PORT: '0', GANTRY_DISCRIMINATOR_ADDR: '127.0.0.1:1', GANTRY_GENERATOR_ADDR: '127.0.0.1:1' };
  const envCases: [string, string, RegExp][] = [
    ['GANTRY_GRPC_PORT', 'abc', /GANTRY_GRPC_PORT/], ['GANTRY_GRPC_PORT', '70000', /grpcPort/], ['GANTRY_GRPC_PORT', '-1', /grpcPort/], ['GANTRY_GRPC_PORT', '1.5', /GANTRY_GRPC_PORT/],
    ['GANTRY_GRPC_PORT', '0x10', /GANTRY_GRPC_PORT/], ['GANTRY_HEARTBEAT_MS', '0', /heartbeatMs/], ['GANTRY_HEARTBEAT_MS', '1e3', /GANTRY_HEARTBEAT_MS/],
    ['GANTRY_RPC_TIMEOUT_MS', '99', /rpcTimeoutMs/], ['GANTRY_METRICS_PORT', '65536', /metricsPort/], ['GANTRY_RUN_ID', 'a run', /runId/],
    ['GANTRY_RUN_ID', 'r'.repeat(100_000), /runId/], ['GANTRY_RUN_ID', 'a.b', /runId/], ['GANTRY_NATS_URL', 'http://x', /natsUrl/], ['GANTRY_NATS_URL', 'nats://a b', /natsUrl/],
    ['GANTRY_SUBJECT_PREFIX', 'a..b', /prefix/], ['GANTRY_SUBJECT_PREFIX', '>', /prefix/], ['GANTRY_ADVERTISE_ADDR', 'nohost', /advertiseAddr/], ['GANTRY_PARENT_PID', '0', /parentPid/],
    ['GANTRY_PARENT_PID', 'x'.repeat(100_000), /GANTRY_PARENT_PID/],
  ];
  for (const [role, resolve] of [['generator', resolveGeneratorConfig], ['discriminator', resolveDiscriminatorConfig]] as const) {
    for (const [name, value, names] of envCases) {
      cases.push({ name: `${role} env ${name}=${JSON.stringify(value.slice(0, 12))} (${value.length} chars)`, expect: ['ProcessConfigError'], names,
        send: () => answerOf(() => resolve({ ...env, [name]: value }, {})) });
    }
    cases.push({ name: `${role} env without GANTRY_RUN_ID`, expect: ['ProcessConfigError'], names: /runId/, send: () => answerOf(() => resolve({ ...env, GANTRY_RUN_ID: undefined }, {})) });
    cases.push({ name: `${role} flag of an unknown setting`, expect: ['ProcessConfigError'], names: /unknown setting/, send: () => answerOf(() => resolve(env, { bogus: '1' })) });
  }
  cases.push({ name: 'discriminator env GANTRY_TEST_INJECT_NAN_AT=-1', expect: ['ProcessConfigError'], names: /testInjectNanAt/, send: () => answerOf(() => resolveDiscriminatorConfig({ ...env, GANTRY_TEST_INJECT_NAN_AT: '-1' }, {})) });
  return cases;
}

/** A sample of real CLI invocations: exit 1 or 2 and a `gantry: ...` / commander line naming the flag. */
export async function cliCases(dir: string): Promise<CaseSpec[]> {
  const run = (args: string[], env: Record<string, string> = {}): Promise<Answer> => new Promise((resolve) => {
    const child = spawn(process.execPath, [GANTRY_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => { if (err.length < 4 * MAX_MESSAGE_CHARS) err += b.toString(); });
    child.on('close', (code) => resolve(code === 0 ? {} : { kind: `exit ${code}`, message: err.trim() }));
  });
  const c = (name: string, args: string[], names: RegExp, env?: Record<string, string>): CaseSpec =>
    ({ name, expect: ['exit 1', 'exit 2'], names, send: () => run(args, env) });
  const bad = path.join(dir, 'bad-config.json');
  await fsp.writeFile(bad, '{"batchSze": 8}');
  return [
    c('train gan --iterations 0', ['train', 'gan', '--in-process', '--iterations', '0', '--out', path.join(dir, 'r1')], /iterations/),
    c('train gan --batch-size abc', ['train', 'gan', '--batch-size', 'abc'], /batch-size/),
    c('train gan --preset resnet', ['train', 'gan', '--preset', 'resnet'], /preset/),
    c('train gan --no-such-flag', ['train', 'gan', '--no-such-flag'], /no-such-flag/),
    c('train gan --config with an unknown key', ['train', 'gan', '--in-process', '--config', bad, '--out', path.join(dir, 'r2')], /batchSze/),
    c('serve generator with GANTRY_GRPC_PORT=abc', ['serve', 'generator'], /GANTRY_GRPC_PORT/, { GANTRY_GRPC_PORT: 'abc', GANTRY_RUN_ID: 'r', GANTRY_RUN_DIR: dir }),
  ];
}
