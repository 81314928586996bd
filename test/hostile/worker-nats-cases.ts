// Hostile control-plane messages for the data-parallel workers: commands to a real worker process
// (`gantry serve worker`) on <prefix>.<run>.cmd.worker.<key>, and registrations written into the
// JetStream KV bucket `gantry_workers` that the classifier scheduler's WorkerRoster watches.
//   commands: malformed JSON, wrong types, unknown and missing keys, unknown types, foreign and
//     overlong run ids, stale and future generations, and at the worker's own generation the
//     handler-level refusals: steps other than the next one, forged member lists (ranks out of
//     order, a key or address twice, another worker at this one's rank), a load of step 0, a
//     prepare whose config does not match its hash. The reply's error code is the answer.
//   registrations: malformed JSON and wrong types under fresh keys and under the real worker's
//     key, registrations of another run, and registrations that claim another worker's key. The
//     roster's warning (naming the KV key) is the answer; taking one in is a violation.
// The worker was prepared, joined (a 1-rank generation 1) and ran step 0 first; its state is the
// `hash` reply (steps applied, sha256 of weights and Adam slots) and its registration (generation,
// rank, steps); the roster's state is its view of live workers.
import { promises as fsp } from 'node:fs';
import { PassThrough } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { configHash } from '../../services/control/run-config.ts';
import { workerCmdSubject } from '../../services/control/subjects.ts';
import { openWorkersBucket, WorkerRoster } from '../../services/control/worker-registry.ts';
import { registrationSchema, workerCommandSchema } from '../../services/control/worker-messages.ts';
import { ManagedChild } from '../../services/launcher/child.ts';
import { WorkerCommands } from '../../services/scheduler/worker-group.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { classifierTrainSchema } from '../../services/train/config.ts';
import { WORKER_SERVICE } from '../../services/wire/proto.ts';
import type { RpcClient } from '../../services/wire/client.ts';
import { GANTRY_BIN, LineSink } from '../harness/cluster.ts';
import { startTestNats, tempDir, waitFor } from '../harness/nats.ts';
import { servingHealth } from './grpc-inprocess.ts';
import { requestRaw } from './nats-cases.ts';
import { type Answer, type CaseSpec, Hostile, type Tally, WRONG_JSON } from './tally.ts';

const RUN = 'hostile-workers';
const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');

export async function runWorkerControl(tally: Tally, seed: number): Promise<void> {
  const nats = await startTestNats();
  const root = await tempDir('gantry-hostile-worker-');
  const output = new LineSink();
  const warnings = new Map<string, string>(); // KV key -> the roster's warning
  const stream = new PassThrough();
  stream.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as { msg: string; key?: string };
      if (r.key) warnings.set(r.key, r.msg);
    }
  });
  const rosterLog = createLogger({ component: 'roster', format: 'json', level: 'warn', stream });
  let nc: NatsConnection | undefined;
  let roster: WorkerRoster | undefined;
  const worker = new ManagedChild({
    role: 'worker', command: process.execPath, args: [GANTRY_BIN, 'serve', 'worker'],
    env: { ...process.env, GANTRY_NATS_URL: nats.url, GANTRY_RUN_ID: RUN, GANTRY_RUN_DIR: root, GANTRY_GRPC_PORT: '0', GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' },
  }, output, () => undefined);
  const health = new Map<string, RpcClient>();
  try {
    worker.start();
    nc = await connect({ servers: nats.url });
    const kv = await openWorkersBucket(nc);
    roster = await new WorkerRoster(kv, RUN, rosterLog).start();
    const r = roster;
    await r.waitUntil(() => r.live(5_000).length === 1, 120_000);
    const { key, addr } = r.live(5_000)[0].reg;
    const cmds = new WorkerCommands(nc, RUN, 'gantry');
    const cfg = classifierTrainSchema.parse({ preset: 'quick', validationSize: 100, batchSize: 8, seed: 3, out: 'unused' });
    const config = cfg as unknown as Record<string, unknown>;
    const hash = configHash(cfg);
    const members = [{ rank: 0, key, host: 'h', addr }];
    await cmds.send(key, { type: 'prepare', run: RUN, generation: 1, step: 0, config, configHash: hash }, 120_000);
    await cmds.send(key, { type: 'join', run: RUN, generation: 1, step: 0, rank: 0, members, source: 'init', config, configHash: hash }, 120_000);
    await cmds.send(key, { type: 'step', run: RUN, generation: 1, step: 0 }, 120_000);
    await waitFor(() => r.get(key)?.reg.applied === 1, 'the registration to show step 0 applied');

    const target = {
      stateHash: async (): Promise<string> => {
        const h = await cmds.send(key, { type: 'hash', run: RUN, generation: 1 }, 30_000);
        const reg = r.get(key)?.reg;
        return JSON.stringify([h.applied, h.weightsHash, reg?.generation, reg?.rank, reg?.applied, reg?.addr]);
      },
      health: async (): Promise<string | undefined> =>
        worker.running ? servingHealth([[addr, WORKER_SERVICE]], health) : `the worker exited: ${worker.lastWords() ?? ''}`,
    };
    await tally.runAll('nats cmd.worker (a worker process)', target, commandCases(nc, key, addr, config, hash, seed), 10);
    const rosterTarget = {
      stateHash: async () => JSON.stringify(r.live(3_600_000).map((w) => [w.reg.key, w.reg.run, w.reg.addr])),
      health: target.health,
    };
    await tally.runAll('kv gantry_workers (the classifier scheduler\'s roster)', rosterTarget, registrationCases(kv, r, warnings, key, addr, seed), 10);
  } finally {
    for (const cl of health.values()) cl.close();
    roster?.stop();
    await worker.stop(5_000);
    await nc?.close();
    await nats.stop();
    await fsp.rm(root, { recursive: true, force: true });
  }
}

function commandCases(nc: NatsConnection, key: string, addr: string, config: Record<string, unknown>, hash: string, seed: number): CaseSpec[] {
  const h = new Hostile(seed);
  const subject = workerCmdSubject(RUN, key, 'gantry');
  const cases: CaseSpec[] = [];
  const to = (name: string, payload: () => Uint8Array, expect: readonly string[], names?: RegExp): void => {
    cases.push({ name: `cmd.worker: ${name}`, expect, names, send: () => requestRaw(nc, subject, payload()) });
  };
  const BAD = ['bad-request'];
  // Bases: a generation the worker is not at (prepare: an older one), so a mutation that still
  // validates is refused by the fence and never runs.
  const members = [{ rank: 0, key, host: 'h', addr }];
  const future = 99;
  const bases: Record<string, Record<string, unknown>> = {
    prepare: { type: 'prepare', run: RUN, generation: 0, step: 0, config, configHash: hash },
    join: { type: 'join', run: RUN, generation: future, step: 0, rank: 0, members, source: 'have', config, configHash: hash },
    load: { type: 'load', run: RUN, generation: future, step: 1 },
    step: { type: 'step', run: RUN, generation: future, step: 1 },
    evaluate: { type: 'evaluate', run: RUN, generation: future, split: 'test' },
    hash: { type: 'hash', run: RUN, generation: future },
  };
  const verdict = (msg: unknown): readonly string[] => {
    const parsed = workerCommandSchema.safeParse(msg);
    if (!parsed.success) return BAD;
    return parsed.data.run === RUN ? ['stale-generation'] : ['wrong-run'];
  };

  const malformed: [string, Uint8Array][] = [
    ['empty payload', new Uint8Array(0)], ['"{"', Buffer.from('{')], ['JSON null', json(null)], ['JSON array', json([1, 2])],
    ['JSON string', json('step')], ['JSON number', json(7)], ['trailing garbage', Buffer.from('{"type":"hash"}xyz')],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])], ['NaN literal', Buffer.from(`{"type":"step","run":"${RUN}","generation":1,"step":NaN}`)],
    ['nesting 100,000 deep', Buffer.from('['.repeat(100_000) + ']'.repeat(100_000))], ['a 900 KB string', json({ type: 'hash', run: 'x'.repeat(900_000), generation: 1 })],
    ['duplicate keys', Buffer.from(`{"type":"hash","run":"${RUN}","generation":1,"generation":"x"}`)],
  ];
  for (let i = 0; i < 6; i++) { const b = h.bytes(h.int(1, 200)); malformed.push([`${b.length} random bytes #${i}`, b]); }
  for (const [name, bytes] of malformed) to(name, () => bytes, BAD);

  for (const [type, base] of Object.entries(bases)) {
    to(`${type}: unknown key`, () => json({ ...base, extra: 1 }), BAD);
    to(`${type}: type "${type}X"`, () => json({ ...base, type: `${type}X` }), BAD);
    for (const field of Object.keys(base).filter((f) => f !== 'type')) {
      const { [field]: _dropped, ...rest } = base;
      to(`${type}: ${field} missing`, () => json(rest), BAD, new RegExp(field));
      for (const [what, v] of WRONG_JSON) {
        const msg = { ...base, [field]: v };
        to(`${type}: ${field} = ${what}`, () => json(msg), verdict(msg));
      }
    }
    to(`${type}: run of another run`, () => json({ ...base, run: 'other-run' }), ['wrong-run'], /run/);
    to(`${type}: run of 100,000 characters`, () => json({ ...base, run: 'r'.repeat(100_000) }), BAD, /run/);
    to(`${type}: run with a subject wildcard`, () => json({ ...base, run: 'a.*' }), BAD, /run/);
  }
  for (const g of [0, 2, 3, 2 ** 31, 2 ** 53 - 1]) {
    for (const type of ['join', 'load', 'step', 'evaluate', 'hash']) {
      to(`${type}: generation ${g} (the worker is at 1)`, () => json({ ...bases[type], generation: g }), ['stale-generation'], /generation/);
    }
  }
  // At the worker's own generation: the handlers' own checks, each before anything changes.
  const now = { run: RUN, generation: 1 };
  for (const s of [2, 5, 1000, 2 ** 31, 2 ** 53 - 1]) to(`step ${s} (the next is 1)`, () => json({ type: 'step', ...now, step: s }), BAD, /step/);
  const join = (m: unknown[], rank = 0) => json({ type: 'join', ...now, step: 1, rank, members: m, source: 'have', config, configHash: hash });
  const other = { rank: 1, key: 'other-worker', host: 'h', addr: '127.0.0.1:1' };
  to('join: rank 1 of a 1-member list', () => join(members, 1), BAD, /rank/);
  to('join: members ranked [1]', () => join([{ ...members[0], rank: 1 }]), BAD, /rank/);
  to('join: members ranked [0, 0]', () => join([members[0], { ...other, rank: 0 }]), BAD, /members\[1\]\.rank/);
  to('join: members ranked [0, 2]', () => join([members[0], { ...other, rank: 2 }]), BAD, /members\[1\]\.rank/);
  to('join: this worker listed twice', () => join([members[0], { ...members[0], rank: 1, addr: '127.0.0.1:2' }]), BAD, /members\[1\]\.key/);
  to('join: one address twice', () => join([members[0], { ...other, addr }]), BAD, /members\[1\]\.addr/);
  to('join: another worker at this one\'s rank', () => join([{ ...other, rank: 0 }, { ...members[0], rank: 1 }]), BAD, /members\[0\]\.key/);
  to('join: an empty member list', () => join([]), BAD, /members/);
  to('load: step 0', () => json({ type: 'load', ...now, step: 0 }), BAD, /step/);
  to('prepare: a config hash that is not the config\'s', () => json({ ...bases.prepare, generation: 1, configHash: 'f'.repeat(64) }), BAD, /config/i);
  to('prepare: a config with an unknown key', () => json({ ...bases.prepare, generation: 2, config: { ...config, bogus: 1 } }), BAD, /config/i);
  to('prepare: a config with batchSize -1', () => json({ ...bases.prepare, generation: 2, config: { ...config, batchSize: -1 } }), BAD, /batchSize/);
  // `committed` (optional): which generation committed step - 1; malformed, it is refused before the fence.
  for (const [what, v] of [['a string', 'x'], ['step missing', { generation: 1 }], ['a negative step', { step: -1, generation: 1 }],
    ['generation 1.5', { step: 0, generation: 1.5 }], ['an unknown key', { step: 0, generation: 1, by: 'me' }], ['null', null]] as const) {
    to(`prepare: committed ${what}`, () => json({ ...bases.prepare, generation: 2, committed: v }), BAD, /committed/);
  }
  return cases;
}

function registrationCases(kv: KV, roster: WorkerRoster, warnings: Map<string, string>, realKey: string, addr: string, seed: number): CaseSpec[] {
  const h = new Hostile(seed + 1);
  const cases: CaseSpec[] = [];
  const valid = (key: string): Record<string, unknown> => ({
    run: RUN, key, host: 'h', pid: 4242, addr: '127.0.0.1:9', ready: true, generation: null, rank: null, applied: null, ts: new Date(0).toISOString(),
  });
  let n = 0;
  /** Writes `value` under <run>.<key> (a fresh key unless given) and waits for the roster's verdict. */
  const put = (name: string, value: (key: string) => Uint8Array, under?: string): void => {
    cases.push({
      name: `kv ${RUN}.*: ${name}`, expect: ['ignored'], names: /worker registration/,
      send: async (): Promise<Answer> => {
        const key = under ?? `hostile-${n++}`;
        const kvKey = `${RUN}.${key}`;
        warnings.delete(kvKey);
        const revision = await kv.put(kvKey, value(key));
        const taken = (): boolean => under === undefined && roster.get(key) !== undefined;
        // Under the real worker's key its next heartbeat may replace the value before the watch
        // delivers it: the bucket keeps one value per key, and a replaced message is never
        // delivered. That is no answer only if the roster has not moved on: once it holds the
        // registration that replaced ours (same ts), it saw ours first, or never could.
        let replacedBy: string | undefined;
        const superseded = async (): Promise<boolean> => {
          if (under === undefined) return false;
          const now = await kv.get(kvKey);
          if (!now || now.revision <= revision || now.length === 0) return false;
          let ts: string | undefined;
          try { ts = registrationSchema.safeParse(now.json()).data?.ts; } catch { return false; }
          if (ts === undefined || roster.get(key)?.reg.ts !== ts) return false;
          replacedBy = ts;
          return true;
        };
        try {
          await waitFor(async () => warnings.has(kvKey) || taken() || (await superseded()), `the roster's answer to ${kvKey}`, 10_000, 10);
          if (taken()) return {};
          if (warnings.has(kvKey)) return { kind: 'ignored', message: `${warnings.get(kvKey)} (${kvKey})` };
          return { kind: 'ignored', message: `replaced by the real worker registration of ${replacedBy} before the watch delivered it; the roster holds that one (${kvKey})` };
        } catch {
          return { kind: 'no answer', message: `the roster neither took nor refused ${kvKey}` };
        } finally {
          if (under === undefined) await kv.delete(kvKey);
        }
      },
    });
  };
  const malformed: [string, Uint8Array][] = [
    ['an empty value', new Uint8Array(0)], ['"{"', Buffer.from('{')], ['JSON null', json(null)], ['JSON array', json([])],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])], ['a 500 KB string', json({ run: 'x'.repeat(500_000) })],
  ];
  for (let i = 0; i < 4; i++) { const b = h.bytes(h.int(1, 120)); malformed.push([`${b.length} random bytes #${i}`, b]); }
  for (const [name, bytes] of malformed) {
    put(name, () => bytes);
    put(`${name}, under the real worker's key`, () => bytes, realKey);
  }
  for (const field of Object.keys(valid('k'))) {
    for (const [what, v] of WRONG_JSON) {
      const bad = (key: string) => ({ ...valid(key), [field]: v });
      if (registrationValid(bad('k'))) continue; // e.g. host = "7": a well-formed registration
      put(`${field} = ${what}`, (key) => json(bad(key)));
    }
    const { [field]: _dropped, ...rest } = valid('k');
    put(`${field} missing`, (key) => json({ ...rest, ...(field === 'key' ? {} : { key }) }));
  }
  put('an unknown key', (key) => json({ ...valid(key), extra: 1 }));
  put('a registration of another run', (key) => json({ ...valid(key), run: 'other-run' }));
  put('a registration claiming the real worker\'s key', () => json({ ...valid(realKey), addr }));
  put('a registration claiming another fresh key', (key) => json(valid(`${key}-x`)));
  put('a registration of another run, under the real worker\'s key', () => json({ ...valid(realKey), run: 'other-run' }), realKey);
  return cases;
}

function registrationValid(v: unknown): boolean {
  return registrationSchema.safeParse(v).success;
}
