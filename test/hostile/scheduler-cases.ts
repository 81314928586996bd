// Hostile messages on the subjects a scheduler listens on: <prefix>.<run>.control (pause /
// resume / stop) and <prefix>.<run>.hb.* (heartbeats). Nothing answers them, so each case
// publishes, flushes, and the target compares the scheduler's state afterwards (the run state in
// KV and the membership view). Only invalid messages are sent: a well-formed `stop` for this run
// is the operator's right (NATS credentials are part 6 of the issue).
import type { NatsConnection } from '@nats-io/transport-node';
import type { RunSubjects } from '../../services/control/subjects.ts';
import { type CaseSpec, Hostile, WRONG_JSON } from './tally.ts';

const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');

/** A published message has no answer: 'ignored' once the server has delivered it (flush). */
async function publish(nc: NatsConnection, subject: string, payload: Uint8Array): Promise<{ kind: string; message: string }> {
  try {
    nc.publish(subject, payload);
    await nc.flush();
  } catch (err) {
    return { kind: 'refused by the client', message: (err as Error).message };
  }
  // Give the subscriber's callback a moment to run before the state is compared.
  await new Promise((r) => setTimeout(r, 5));
  return { kind: 'ignored', message: 'published' };
}

export function schedulerCases(nc: NatsConnection, subjects: RunSubjects, run: string, members: Record<string, Record<string, unknown>>, seed: number): CaseSpec[] {
  const h = new Hostile(seed);
  const cases: CaseSpec[] = [];
  const to = (subject: string, label: string, payload: () => Uint8Array): void => {
    cases.push({ name: `${label}`, expect: ['ignored'], send: () => publish(nc, subject, payload()) });
  };
  const malformed: [string, Uint8Array][] = [
    ['empty payload', new Uint8Array(0)], ['JSON null', json(null)], ['JSON array', json([])], ['JSON number', json(1)], ['truncated JSON', Buffer.from('{"type":"st')],
    ['invalid UTF-8', Buffer.from([0xc3, 0x28])], ['nesting 100,000 deep', Buffer.from('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000))],
  ];
  for (let i = 0; i < 4; i++) malformed.push([`random ${i}`, h.bytes(h.int(1, 120))]);

  // control: pause / resume / stop.
  const control = { type: 'resume', run };
  for (const [what, payload] of malformed) to(subjects.control, `control: ${what}`, () => payload);
  for (const type of ['stop ', 'STOP', 'kill', '', 's'.repeat(10_000)]) to(subjects.control, `control: type "${type.slice(0, 8)}" (${type.length} chars)`, () => json({ type, run }));
  for (const [what, value] of WRONG_JSON) {
    to(subjects.control, `control: type = ${what}`, () => json({ ...control, type: value }));
    to(subjects.control, `control: run = ${what}`, () => json({ ...control, run: value }));
    if (typeof value !== 'string') to(subjects.control, `control: reason = ${what}`, () => json({ ...control, reason: value })); // any string is a valid reason
  }
  for (const type of ['stop', 'resume', 'pause']) {
    to(subjects.control, `control: ${type} for another run`, () => json({ type, run: 'another-run' }));
    to(subjects.control, `control: ${type} without a run`, () => json({ type }));
    to(subjects.control, `control: ${type} with an unknown key`, () => json({ type, run, force: true }));
  }

  // heartbeats: on the scheduler's wildcard hb.*, as the generator and the discriminator.
  for (const role of ['generator', 'discriminator'] as const) {
    const hb: Record<string, unknown> = { ...members[role] };
    const subject = subjects.hb(role);
    for (const [what, payload] of malformed) to(subject, `hb.${role}: ${what}`, () => payload);
    for (const field of Object.keys(hb)) {
      const { [field]: _drop, ...rest } = hb;
      if (field !== 'grpcAddr' && field !== 'iteration') to(subject, `hb.${role}: without ${field}`, () => json(rest));
      for (const [what, value] of WRONG_JSON) {
        if (field === 'host' && typeof value === 'string') continue; // any host name is valid
        if (field === 'grpcAddr' && typeof value === 'string') continue;
        if (field === 'generation' && value === null) continue;
        if (field === 'iteration' && value === -1) continue; // -1: nothing applied yet, valid
        if (field === 'instance' && typeof value === 'string' && value.length > 0) continue; // a new instance: valid
        to(subject, `hb.${role}: ${field} = ${what}`, () => json({ ...hb, [field]: value }));
      }
    }
    to(subject, `hb.${role}: an unknown key`, () => json({ ...hb, extra: 1 }));
    to(subject, `hb.${role}: for another run`, () => json({ ...hb, run: 'another-run', instance: 'foreign-1' }));
    to(subject, `hb.${role}: claiming the other role`, () => json({ ...hb, role: role === 'generator' ? 'discriminator' : 'generator', instance: 'impostor-1' }));
    to(subject, `hb.${role}: claiming to be the scheduler`, () => json({ ...hb, role: 'scheduler', instance: 'impostor-2' }));
  }
  to(`${subjects.hbAll.slice(0, -1)}nobody`, 'hb.nobody: a role that does not exist', () => json({ ...members.generator, role: 'nobody' }));
  to(`${subjects.hbAll.slice(0, -1)}generator.extra`, 'hb.generator.extra: a deeper subject', () => json({ ...members.generator, instance: 'deep-1' }));
  return cases;
}

/**
 * Hostile run states in the KV bucket, under keys of runs that do not exist: reading one (what a
 * scheduler's claim and `gantry status` do) must fail with a MessageError naming the field, and
 * the real run's entry must stay as it was.
 */
export function runStateCases(put: (key: string, value: Uint8Array) => Promise<void>, get: (key: string) => Promise<unknown>, valid: Record<string, unknown>): CaseSpec[] {
  const cases: CaseSpec[] = [];
  let n = 0;
  const c = (what: string, value: () => Uint8Array): void => {
    const key = `hostile-kv-${n++}`;
    cases.push({
      name: `kv gantry_runs: ${what}`, expect: ['MessageError'],
      send: async () => {
        await put(key, value());
        return get(key).then(() => ({}), (err: Error) => ({ kind: err.name, message: err.message }));
      },
    });
  };
  for (const [what, bytes] of [['empty', new Uint8Array(0)], ['not JSON', Buffer.from('{"runId":')], ['JSON null', json(null)], ['JSON array', json([valid])]] as const) c(what, () => bytes);
  for (const field of Object.keys(valid)) {
    if (field === 'error') continue;
    const { [field]: _drop, ...rest } = valid;
    c(`without ${field}`, () => json(rest));
    for (const [what, v] of WRONG_JSON) {
      if (field === 'lastCheckpoint' && v === null) continue; // no checkpoint yet: valid
      if (field === 'scheduler' && v === null) continue;
      c(`${field} = ${what}`, () => json({ ...valid, [field]: v }));
    }
  }
  // Under key hostile-kv-N, a state that names another run: writes would go to that run's key.
  c('a run state naming another run', () => json({ ...valid, runId: 'another-run' }));
  c('status "exploded"', () => json({ ...valid, status: 'exploded' }));
  c('an unknown key', () => json({ ...valid, owner: 'mallory' }));
  c('a checkpoint outside the run directory', () => json({ ...valid, lastCheckpoint: { iteration: 5, path: '../../etc' } }));
  c('an absolute checkpoint path', () => json({ ...valid, lastCheckpoint: { iteration: 5, path: '/etc' } }));
  return cases;
}
