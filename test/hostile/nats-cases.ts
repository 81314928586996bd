// Hostile control-plane messages. Commands go to <prefix>.<run>.cmd.<role> of real service
// processes (request/reply: the reply's error code is the answer); heartbeats and control
// messages go to the subjects the scheduler listens on (no reply: the scheduler's view and the
// run state in KV must stay as they were). Families: malformed JSON, wrong types, unknown and
// missing keys, unknown command types, foreign run ids, stale and future generations, handler-
// level refusals (steps out of range, checkpoints of the wrong iteration, paths outside the run
// directory, restores that cannot be carried out) and oversized payloads.
import type { NatsConnection } from '@nats-io/transport-node';
import { configHash } from '../../services/control/run-config.ts';
import type { RunSubjects, ServiceRole } from '../../services/control/subjects.ts';
import type { GanTrainConfig } from '../../services/train/config.ts';
import { type Answer, type CaseSpec, Hostile, WRONG_JSON } from './tally.ts';

/** The reply to a raw command: its error code, 'OK', or 'NOT_APPLIED' for a step answered as a retry. */
export async function requestRaw(nc: NatsConnection, subject: string, payload: Uint8Array, timeoutMs = 10_000): Promise<Answer> {
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, payload, { timeout: timeoutMs })).data;
  } catch (err) {
    return { kind: `no reply: ${(err as Error).name}`, message: (err as Error).message };
  }
  const reply = JSON.parse(Buffer.from(data).toString('utf8')) as { ok: boolean; error?: { code: string; message: string }; metrics?: { applied?: boolean } };
  if (!reply.ok) return { kind: reply.error!.code, message: reply.error!.message };
  return { kind: reply.metrics?.applied === false ? 'NOT_APPLIED' : 'OK' };
}

export interface CommandTarget {
  nc: NatsConnection;
  subjects: RunSubjects;
  run: string;
  /** The generation both services were restored into. */
  generation: number;
  /** Iterations both services have applied (the next is `applied`). */
  applied: number;
  k: number;
  train: GanTrainConfig;
}

const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');

export function commandCases(t: CommandTarget, seed: number): CaseSpec[] {
  const h = new Hostile(seed);
  const { run, generation: gen, k } = t;
  const cases: CaseSpec[] = [];
  const to = (role: ServiceRole, name: string, payload: () => Uint8Array, expect: readonly string[], names?: RegExp): void => {
    cases.push({ name: `cmd.${role}: ${name}`, expect, names, send: () => requestRaw(t.nc, t.subjects.cmd(role), payload()) });
  };
  const hash = configHash(t.train);
  // Bases for field mutations: stamped with a future generation (restore: with a wrong config
  // hash), so a mutation that still validates is refused by the fence and never executes.
  const future = gen + 5;
  const valid: Record<string, Record<string, unknown>> = {
    ping: { type: 'ping', run },
    'd-step': { type: 'd-step', run, generation: future, iteration: 0, step: 0 },
    'g-step': { type: 'g-step', run, generation: future, iteration: 0, step: k },
    checkpoint: { type: 'checkpoint', run, generation: future, iteration: t.applied },
    restore: { type: 'restore', run, generation: gen + 1, iteration: 0, config: t.train, configHash: '0'.repeat(64), checkpoint: null },
    sample: { type: 'sample', run, generation: future, iteration: t.applied },
    eval: { type: 'eval', run, generation: future, iteration: t.applied },
  };
  // Commands at the current generation, for the handlers' own checks.
  const current = {
    'd-step': { type: 'd-step', run, generation: gen, iteration: 0, step: 0 },
    'g-step': { type: 'g-step', run, generation: gen, iteration: 0, step: k },
    checkpoint: { type: 'checkpoint', run, generation: gen, iteration: t.applied },
    restore: { type: 'restore', run, generation: gen + 1, iteration: 0, config: t.train, configHash: hash, checkpoint: null },
    sample: { type: 'sample', run, generation: gen, iteration: t.applied },
  };
  // Which role serves which command (a role that does not handle a type refuses it too).
  const roleOf: Record<string, ServiceRole> = { ping: 'generator', 'd-step': 'discriminator', 'g-step': 'generator', checkpoint: 'discriminator', restore: 'generator', sample: 'generator', eval: 'generator' };
  const BAD = ['bad-request'];

  // Malformed JSON, to both roles.
  const malformed: [string, Uint8Array][] = [
    ['empty payload', new Uint8Array(0)], ['"{"', json('{').subarray(1, 2)], ['JSON null', json(null)], ['JSON array', json([1, 2])], ['JSON string', json('d-step')],
    ['JSON number', json(42)], ['JSON true', json(true)], ['trailing garbage', Buffer.from('{"type":"ping"}xyz')], ['single quotes', Buffer.from("{'type':'ping'}")],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])], ['UTF-8 BOM before the object', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(valid.ping)])],
    ['NaN literal', Buffer.from(`{"type":"d-step","run":"${run}","generation":${gen},"iteration":NaN,"step":0}`)],
    ['nesting 100,000 deep', Buffer.from('['.repeat(100_000) + ']'.repeat(100_000))], ['a 900 KB string', json({ type: 'ping', run: 'x'.repeat(900_000) })],
    ['a 900 KB unknown key', json({ ...valid.ping, ['k'.repeat(900_000)]: 1 })], ['duplicate keys', Buffer.from(`{"type":"ping","run":"${run}","run":"other"}`)],
  ];
  for (let i = 0; i < 6; i++) malformed.push([`random ${i}`, h.bytes(h.int(1, 200))]);
  for (const role of ['generator', 'discriminator'] as const) {
    for (const [what, payload] of malformed) {
      // Duplicate keys: JSON.parse keeps the last, a foreign run.
      to(role, what, () => payload, what === 'duplicate keys' ? ['wrong-run'] : BAD);
    }
  }

  // Per command type: unknown keys, missing keys, wrong types.
  const unknownKeys: [string, string][] = [['extra', 'extra'], ['__proto__', '__proto__'], ['constructor', 'constructor'], ['a 100,000-character key', 'u'.repeat(100_000)], ['an emoji key', '\u{1F4A5}']];
  for (const [type, base] of Object.entries(valid)) {
    const role = roleOf[type];
    for (const [what, key] of unknownKeys) {
      // JSON.stringify drops a __proto__ own property set by assignment: build the text instead.
      const text = `${JSON.stringify(base).slice(0, -1)},${JSON.stringify(key)}:1}`;
      to(role, `${type} with unknown key ${what}`, () => Buffer.from(text), BAD, /unknown field|message/);
    }
    for (const field of Object.keys(base)) {
      const { [field]: _drop, ...rest } = base;
      to(role, `${type} without ${field}`, () => json(rest), BAD, new RegExp(field === 'type' ? 'type' : `${field}`));
      for (const [what, value] of WRONG_JSON) {
        if (type === 'restore' && field === 'config' && what === 'object') continue; // an object config: checked below
        if (field === 'checkpoint' && what === 'null') continue; // a restore without a checkpoint is valid
        const v = { ...base, [field]: value };
        // A wrong value that is still valid (e.g. a generation number) meets the fence instead.
        const expect = ['bad-request', 'stale-generation', 'wrong-run'];
        to(role, `${type} with ${field} = ${what}`, () => json(v), expect);
      }
    }
  }
  for (const type of ['D-STEP', 'shutdown', 'exec', '', 'p'.repeat(100_000)]) {
    to('generator', `unknown type "${type.slice(0, 10)}" (${type.length} chars)`, () => json({ type, run }), BAD, /type/);
  }
  // A role that does not handle a type.
  to('generator', 'd-step to the generator', () => json(current['d-step']), ['bad-request', 'stale-generation'], /d-step|step/);
  to('discriminator', 'g-step to the discriminator', () => json(current['g-step']), ['bad-request'], /g-step/);
  to('discriminator', 'sample to the discriminator', () => json(current.sample), ['bad-request'], /sample/);
  to('discriminator', 'eval to the discriminator', () => json({ ...valid.eval, generation: gen }), ['bad-request'], /eval/);

  // Foreign runs, stale and future generations.
  for (const [type, base] of Object.entries(valid)) {
    const role = roleOf[type];
    to(role, `${type} for another run`, () => json({ ...base, run: 'another-run' }), ['wrong-run'], /another-run/);
    to(role, `${type} for a run id with a space`, () => json({ ...base, run: 'a run' }), BAD, /run/);
    to(role, `${type} for a 100,000-character run id`, () => json({ ...base, run: 'r'.repeat(100_000) }), BAD, /run/);
    if (type === 'ping') continue;
    const stale = [gen - 1, 0];
    for (const g of [...new Set(stale.filter((x) => x >= 0))]) to(role, `${type} of stale generation ${g}`, () => json({ ...base, generation: g }), ['stale-generation'], /generation/);
    if (type !== 'restore') {
      for (const g of [gen + 1, gen + 1000, 2 ** 53 - 1]) to(role, `${type} of future generation ${g}`, () => json({ ...base, generation: g }), ['stale-generation'], /generation/);
    }
  }

  // Handler-level refusals at the current generation.
  for (const step of [k, k + 1, 2 ** 31]) to('discriminator', `d-step (0, ${step}) out of range`, () => json({ ...current['d-step'], iteration: t.applied, step }), BAD, /step/);
  for (const step of [0, k + 1, 2 ** 31].filter((s) => s !== k)) to('generator', `g-step (0, ${step}) not the G-step`, () => json({ ...current['g-step'], iteration: t.applied, step }), BAD, /step/);
  to('discriminator', 'd-step (0, 0) again: a duplicate of an applied step', () => json(current['d-step']), ['NOT_APPLIED']);
  to('generator', 'g-step 0 again: a duplicate of an applied step', () => json(current['g-step']), ['NOT_APPLIED']);
  for (const role of ['generator', 'discriminator'] as const) {
    for (const it of [0, t.applied + 1, 10 ** 9]) {
      to(role, `checkpoint of iteration ${it} (applied ${t.applied})`, () => json({ ...current.checkpoint, iteration: it }), BAD, /iteration/);
    }
    for (const dir of ['../outside', '/tmp/abs', 'checkpoints/../../x', '', 'a\\..\\..\\b']) {
      to(role, `checkpoint staging dir ${JSON.stringify(dir)}`, () => json({ ...current.checkpoint, stagingDir: dir }), BAD, /stagingDir/);
    }
  }
  for (const p of ['../x.png', '/etc/passwd', 'samples/../../x.png', '']) to('generator', `sample path ${JSON.stringify(p)}`, () => json({ ...current.sample, path: p }), BAD, /path/);

  // Restores that cannot be carried out, stamped with a future generation: each must be refused
  // and leave the service in the generation it serves.
  const restore = (edit: (r: Record<string, unknown>) => void): (() => Uint8Array) => () => {
    const r = structuredClone(current.restore) as Record<string, unknown>;
    edit(r);
    return json(r);
  };
  const badConfigs: [string, (c: Record<string, unknown>) => void][] = [
    ['an unknown config key', (c) => { c.extra = 1; }], ['batchSize 0', (c) => { c.batchSize = 0; }], ['batchSize "8"', (c) => { c.batchSize = '8'; }],
    ['lrG 2', (c) => { c.lrG = 2; }], ['preset "resnet"', (c) => { c.preset = 'resnet'; }], ['zDim 2^31', (c) => { c.zDim = 2 ** 31; }],
    ['iterations -1', (c) => { c.iterations = -1; }], ['dSteps 0', (c) => { c.dSteps = 0; }], ['loss "nope"', (c) => { c.loss = 'nope'; }],
  ];
  for (const role of ['generator', 'discriminator'] as const) {
    for (const [what, edit] of badConfigs) to(role, `restore with ${what}`, restore((r) => edit(r.config as Record<string, unknown>)), BAD, /config/);
    to(role, 'restore with a config hash of another config', restore((r) => { r.configHash = 'a'.repeat(64); }), BAD, /configHash/);
    to(role, 'restore with an upper-case config hash', restore((r) => { r.configHash = hash.toUpperCase(); }), BAD, /configHash/);
    to(role, 'restore at iteration 5 without a checkpoint', restore((r) => { r.iteration = 5; }), BAD, /iteration/);
    to(role, 'restore from another iteration\'s checkpoint', restore((r) => { r.iteration = 5; r.checkpoint = { iteration: 5, path: 'checkpoints/iter-000004' }; }), BAD, /checkpoint/);
    to(role, 'restore from a half-written checkpoint', restore((r) => { r.iteration = 5; r.checkpoint = { iteration: 5, path: 'checkpoints/iter-000005.partial' }; }), BAD, /checkpoint/);
    to(role, 'restore from a checkpoint outside the run directory', restore((r) => { r.iteration = 5; r.checkpoint = { iteration: 5, path: '../../etc' }; }), BAD, /checkpoint/);
    to(role, 'restore from the run directory itself', restore((r) => { r.iteration = 5; r.checkpoint = { iteration: 5, path: '.' }; }), BAD, /checkpoint/);
  }
  return cases;
}
