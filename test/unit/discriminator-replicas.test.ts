// The discriminator replica group's small contracts, without processes: what the GAN config
// refuses before anything starts, the members' subjects and NATS permissions, the scheduler's
// check that every rank holds the same weights, and the discriminator's settings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memberToken, runSubjects } from '../../services/control/subjects.ts';
import { resolveDiscriminatorConfig } from '../../services/discriminator/config.ts';
import { checkReplicasAgree, ReplicaDivergence } from '../../services/scheduler/checkpointer.ts';
import { rolePermissions } from '../../services/control/nats-config.ts';
import { ganTrainSchema, resumeKey } from '../../services/train/config.ts';

function issue(input: Record<string, unknown>): { path: string; message: string } | undefined {
  const r = ganTrainSchema.safeParse(input);
  if (r.success) return undefined;
  return { path: r.error.issues[0].path.join('.'), message: r.error.issues[0].message };
}

test('the GAN config refuses replicas the batch or the loss cannot take, naming the flag and the bound', () => {
  assert.deepEqual(issue({ preset: 'mlp', batchSize: 8, discriminatorReplicas: 3 }), {
    path: 'discriminatorReplicas',
    message: '--discriminator-replicas 3 must divide --batch-size 8 (each replica takes batch / N rows of the real and the fake batch)',
  });
  const gp = issue({ preset: 'dcgan', loss: 'wgan-gp', discriminatorReplicas: 2 });
  assert.equal(gp?.path, 'discriminatorReplicas');
  assert.match(gp!.message, /--discriminator-replicas must be 1 with --loss wgan-gp, unless --preset mlp/);
  assert.equal(issue({ preset: 'mlp', loss: 'wgan-gp', batchSize: 8, discriminatorReplicas: 2 }), undefined, 'no batch norm: the penalty is per row');
  assert.equal(issue({ discriminatorReplicas: 0 })?.path, 'discriminatorReplicas');
  // Absent stays absent (configs and hashes written before it are unchanged); N does not change what is trained.
  assert.equal('discriminatorReplicas' in ganTrainSchema.parse({}), false);
  assert.equal(resumeKey(ganTrainSchema.parse({ discriminatorReplicas: 4 })), resumeKey(ganTrainSchema.parse({})));
});

test('rank 0 keeps the role\'s subjects; ranks above answer on <role>.<rank>, and may in a secured NATS', () => {
  const s = runSubjects('r1');
  assert.equal(s.cmd('discriminator', 0), s.cmd('discriminator'));
  assert.equal(s.cmd('discriminator', 2), 'gantry.r1.cmd.discriminator.2');
  assert.equal(s.hb('discriminator', 1), 'gantry.r1.hb.discriminator.1');
  assert.equal(s.hbAll, 'gantry.r1.hb.>', 'the scheduler hears every rank');
  assert.equal(memberToken('discriminator', 3), 'discriminator.3');
  const d = rolePermissions('discriminator', { run: 'r1' });
  assert.deepEqual(d.subscribe, ['gantry.r1.cmd.discriminator', 'gantry.r1.cmd.discriminator.*']);
  assert.deepEqual(d.publish, ['gantry.r1.hb.discriminator', 'gantry.r1.hb.discriminator.*']);
  assert.ok(rolePermissions('scheduler', { run: 'r1' }).publish.includes('gantry.r1.cmd.discriminator.*'));
});

test('a checkpoint stops the run when the replicas\' weights differ', () => {
  const h = (c: string) => c.repeat(64);
  const reply = (rank: number, weightsHash?: string) => ({ rank, attempts: 1, reply: { ok: true as const, iteration: 10, ...(weightsHash ? { weightsHash } : {}) } });
  assert.doesNotThrow(() => checkReplicasAgree(10, [reply(0)]), 'one discriminator: nothing to compare');
  assert.doesNotThrow(() => checkReplicasAgree(10, [reply(0, h('a')), reply(1, h('a')), reply(2, h('a'))]));
  assert.throws(() => checkReplicasAgree(10, [reply(0, h('a')), reply(1, h('b'))]),
    (e: unknown) => e instanceof ReplicaDivergence && e.iteration === 10 && e.hashes[1] === h('b') && /rank: 0=aaaaaaaaaaaa, 1=bbbbbbbbbbbb/.test(e.message));
  assert.throws(() => checkReplicasAgree(10, [reply(0), reply(1)]), ReplicaDivergence, 'a rank that sends no hash cannot be vouched for');
});

test('a discriminator replica\'s settings: its rank indexes GANTRY_DISCRIMINATOR_ADDRS', () => {
  const base = { GANTRY_RUN_ID: 'r1', GANTRY_GENERATOR_ADDR: '127.0.0.1:1' };
  const cfg = resolveDiscriminatorConfig({ ...base, GANTRY_DISCRIMINATOR_ADDRS: 'a:1, b:2', GANTRY_DISCRIMINATOR_RANK: '1' }, {});
  assert.deepEqual([cfg.rank, cfg.replicaAddrs], [1, ['a:1', 'b:2']]);
  assert.equal(resolveDiscriminatorConfig(base, {}).rank, undefined, 'no group: no rank');
  assert.equal(resolveDiscriminatorConfig({ ...base, GANTRY_DISCRIMINATOR_RANK: '0' }, {}).rank, 0);
  // An unset rank in a group (a Kubernetes pod-index label that is missing reads as empty) is
  // refused, not taken as rank 0 on every pod.
  for (const rank of [undefined, '']) {
    const env = { ...base, GANTRY_DISCRIMINATOR_ADDRS: 'a:1,b:2', ...(rank === undefined ? {} : { GANTRY_DISCRIMINATOR_RANK: rank }) };
    assert.throws(() => resolveDiscriminatorConfig(env, {}), /rank.*required \(GANTRY_DISCRIMINATOR_RANK\) when GANTRY_DISCRIMINATOR_ADDRS names 2 or more ranks/);
  }
  assert.equal(resolveDiscriminatorConfig({ ...base, GANTRY_DISCRIMINATOR_ADDRS: 'a:1' }, {}).rank, undefined, 'a group of one needs no rank');
  assert.throws(() => resolveDiscriminatorConfig({ ...base, GANTRY_DISCRIMINATOR_ADDRS: 'a:1,b:2', GANTRY_DISCRIMINATOR_RANK: '2' }, {}), /rank/);
  assert.throws(() => resolveDiscriminatorConfig({ ...base, GANTRY_DISCRIMINATOR_ADDRS: 'a:1,nope' }, {}), /GANTRY_DISCRIMINATOR_ADDRS|replicaAddrs/);
});
