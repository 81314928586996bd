// `gantry status [--nats URL] [--run ID] [--json]`: a run's state from JetStream KV (status,
// iteration, last checkpoint, generation, owner), the members heard from in a short listen on
// its heartbeat subjects (a GAN run's services), and the workers registered in KV (a classifier
// run's, with the age of each one's last write). Without --run: the one run in the bucket, or a
// list when there are more.
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../control/connection.ts';
import { loadNatsAuth } from '../../control/nats-auth.ts';
import { Membership, type SeenMember } from '../../control/heartbeat.ts';
import { readRegistrations, type StoredRegistration } from '../../control/worker-registry.ts';
import { type RunState, RunStateStore } from '../../control/run-state.ts';
import { DEFAULT_PREFIX, prefixSchema, RUNS_BUCKET, runIdSchema, memberToken, runSubjects } from '../../control/subjects.ts';
import { createLogger } from '../../telemetry/log.ts';
import { ENV_VARS, readEnv } from '../../env/mod.ts';
import { CheckFailed, UsageError } from '../errors.ts';

export interface NatsTarget {
  url: string;
  runId?: string;
  prefix: string;
}

/** --nats (default GANTRY_NATS_URL, then nats://127.0.0.1:4222), --run and --subject-prefix, checked. */
export function natsTarget(opts: { nats?: string; run?: string; subjectPrefix?: string }): NatsTarget {
  const url = opts.nats ?? readEnv('GANTRY_NATS_URL') ?? ENV_VARS.GANTRY_NATS_URL.default;
  if (!/^(nats|tls):\/\/\S+$/.test(url)) throw new UsageError(`--nats: expected nats://host:port, got ${JSON.stringify(url)}`);
  if (opts.run !== undefined && !runIdSchema.safeParse(opts.run).success) {
    throw new UsageError(`--run: expected 1-64 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(opts.run)}`);
  }
  const prefix = opts.subjectPrefix ?? DEFAULT_PREFIX;
  if (!prefixSchema.safeParse(prefix).success) throw new UsageError(`--subject-prefix: expected dot-separated tokens, got ${JSON.stringify(prefix)}`);
  return { url, runId: opts.run, prefix };
}

/** Connects (5 s) and opens the runs bucket without creating it. */
export async function openRuns(target: NatsTarget): Promise<{ nc: NatsConnection; store: RunStateStore }> {
  const log = createLogger({ component: 'status', level: 'error' });
  // The operator's NATS credentials, as a service's (GANTRY_NATS_USER ...; `gantry nats-config` role "operator").
  const setting = (name: Parameters<typeof readEnv>[0]): string | undefined => readEnv(name) || undefined;
  const auth = await loadNatsAuth({
    natsUser: setting('GANTRY_NATS_USER'), natsPasswordFile: setting('GANTRY_NATS_PASSWORD_FILE'), natsNkeyFile: setting('GANTRY_NATS_NKEY_FILE'),
    natsTlsCa: setting('GANTRY_NATS_TLS_CA'), natsTlsCert: setting('GANTRY_NATS_TLS_CERT'), natsTlsKey: setting('GANTRY_NATS_TLS_KEY'),
  }).catch((err: unknown) => {
    throw new UsageError((err as Error).message, { cause: err });
  });
  const nc = await connectNats(target.url, { name: 'gantry-cli', log, timeoutMs: 5_000, auth }).catch((err: unknown) => {
    throw new CheckFailed(`cannot reach NATS at ${target.url} (--nats): ${(err as Error).message}`);
  });
  try {
    return { nc, store: await RunStateStore.open(nc, { create: false }) };
  } catch (err) {
    await closeNats(nc);
    throw new CheckFailed(`no run state on ${target.url}: KV bucket ${RUNS_BUCKET} does not exist (no scheduler has run there)`, { cause: err });
  }
}

/** The run named by --run, or the only one; fails listing the runs otherwise. */
export async function pickRun(store: RunStateStore, target: NatsTarget): Promise<RunState> {
  const ids = await store.runIds();
  const id = target.runId ?? (ids.length === 1 ? ids[0] : undefined);
  if (id === undefined) {
    throw new UsageError(ids.length === 0 ? `no runs in KV bucket ${RUNS_BUCKET} on ${target.url}` : `--run: ${ids.length} runs on ${target.url}, name one: ${ids.join(', ')}`);
  }
  const found = await store.get(id);
  if (!found) throw new CheckFailed(`--run: no run ${JSON.stringify(id)} in KV bucket ${RUNS_BUCKET} on ${target.url}${ids.length ? `; runs: ${ids.join(', ')}` : ''}`);
  return found.state;
}

async function listen(nc: NatsConnection, target: NatsTarget, runId: string, ms: number): Promise<SeenMember[]> {
  const members = new Membership(nc, runSubjects(runId, target.prefix), createLogger({ component: 'status', level: 'error' })).start();
  await new Promise((r) => setTimeout(r, ms));
  members.stop();
  return members.all();
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

export function formatStatus(s: RunState, members: SeenMember[], listenMs: number, workers: StoredRegistration[] = []): string {
  const rows: [string, string][] = [
    ['run', s.runId],
    ['status', s.status],
    ['iteration', `${s.iteration} / ${s.iterations}`],
    ['checkpoint', s.lastCheckpoint ? `${s.lastCheckpoint.path} (iteration ${s.lastCheckpoint.iteration}, relative to the run directory)` : 'none yet'],
    ['generation', String(s.generation)],
    ['config', s.configHash.slice(0, 12)],
    ['scheduler', s.scheduler ? `${s.scheduler.host} pid ${s.scheduler.pid} (${s.scheduler.instance})` : 'none'],
    ['updated', `${s.updatedAt} (${ago(s.updatedAt)})`],
  ];
  if (s.error) rows.push(['error', `${s.error.code}: ${s.error.message}`]);
  const lines = rows.map(([k, v]) => `${k.padEnd(11)}${v}`);
  lines.push(`members    (heartbeats heard in ${listenMs} ms)${members.length === 0 ? ': none' : ''}`);
  for (const m of members.sort((a, b) => a.hb.role.localeCompare(b.hb.role) || (a.hb.rank ?? 0) - (b.hb.rank ?? 0))) {
    const h = m.hb;
    lines.push(`  ${memberToken(h.role, h.rank).padEnd(16)}${h.ready ? 'ready' : 'starting'}  generation ${h.generation ?? '-'}  pid ${h.pid}  ${h.host}` +
      `${h.grpcAddr ? `  grpc ${h.grpcAddr}` : ''}${h.iteration !== undefined ? `  last iteration ${h.iteration}` : ''}  (${h.instance})`);
  }
  if (workers.length > 0) {
    lines.push('workers    (registrations in KV; a killed worker leaves its own behind, so mind the age)');
    const byRank = (w: StoredRegistration): number => w.reg.rank ?? Number.MAX_SAFE_INTEGER;
    const width = Math.max(...workers.map((w) => w.reg.key.length)) + 'worker   '.length;
    for (const { reg: r, writtenAt } of [...workers].sort((a, b) => byRank(a) - byRank(b) || a.reg.key.localeCompare(b.reg.key))) {
      lines.push(`  ${`worker ${r.key}`.padEnd(width)}${r.ready ? 'ready' : 'starting'}  rank ${r.rank ?? '-'}  generation ${r.generation ?? '-'}` +
        `  applied ${r.applied ?? '-'}  pid ${r.pid}  ${r.host}  grpc ${r.addr}  written ${ago(writtenAt.toISOString())}`);
    }
  }
  return lines.join('\n') + '\n';
}

async function runStatus(opts: { nats?: string; run?: string; subjectPrefix?: string; json?: boolean; listenMs?: string }): Promise<void> {
  const target = natsTarget(opts);
  const listenMs = opts.listenMs === undefined ? 1_500 : Number(opts.listenMs);
  if (!Number.isInteger(listenMs) || listenMs < 0 || listenMs > 60_000) throw new UsageError(`--listen-ms: expected an integer 0..60000, got ${opts.listenMs}`);
  const { nc, store } = await openRuns(target);
  try {
    const state = await pickRun(store, target);
    const [members, workers] = await Promise.all([listen(nc, target, state.runId, listenMs), readRegistrations(nc, state.runId)]);
    if (opts.json) {
      const out = { state, members: members.map((m) => m.hb), workers: workers.map((w) => ({ ...w.reg, writtenAt: w.writtenAt.toISOString() })) };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    } else {
      process.stdout.write(formatStatus(state, members, listenMs, workers));
    }
  } finally {
    await closeNats(nc);
  }
}

export function register(program: Command): void {
  program
    .command('status')
    .description("show a distributed run's state from NATS KV, the members heard in its heartbeats and its registered workers")
    .option('--nats <url>', 'NATS server (default $GANTRY_NATS_URL or nats://127.0.0.1:4222)')
    .option('--run <id>', 'run id (default: the only run in the bucket)')
    .option('--subject-prefix <prefix>', 'subject prefix of the run', DEFAULT_PREFIX)
    .option('--listen-ms <n>', 'how long to listen for heartbeats', '1500')
    .option('--json', 'print {state, members} as JSON')
    .action(runStatus);
}
