// `gantry nats-config`: a nats-server configuration with one user per role and subject
// permissions derived from the run's subjects (services/control/subjects.ts), plus the
// credential file each process is given (GANTRY_NATS_PASSWORD_FILE or GANTRY_NATS_NKEY_FILE).
//
// Permissions (publish / subscribe allow lists; <base> = <prefix>.<run>, run "*" = any run):
//   generator, discriminator   pub <base>.hb.<role>                  sub <base>.cmd.<role>
//   (any service role)         and replies to the commands they receive (allow_responses)
//   discriminator              also pub <base>.hb.discriminator.*, sub <base>.cmd.discriminator.* (replica ranks >= 1)
//   worker                     pub $JS.API of the workers bucket's stream, $KV.gantry_workers.<run>.>
//   (data-parallel replica)        (its registration, rewritten every heartbeat; deleted on leave)
//                              sub <base>.cmd.worker.*, _INBOX.>  and replies to its commands
//   scheduler                  pub <base>.cmd.*, <base>.cmd.discriminator.*, <base>.cmd.worker.*, <base>.hb.scheduler, <base>.progress,
//                                  $JS.API of the runs bucket's stream, $KV.<bucket>.>  (run state in JetStream KV),
//                                  $JS.API of the workers bucket's stream (it watches the registrations)
//                              sub <base>.hb.*, <base>.control, _INBOX.>
//   operator                   pub <base>.control, $JS.API of the bucket   sub <base>.hb.*, <base>.progress, _INBOX.>
//   (gantry status, gantry run)
// So a service cannot command another service (a worker cannot command a worker: one user for all
// of them, each may still read any worker's commands of its run and rewrite any registration), forge another role's heartbeat, stop the run or
// touch JetStream; the scheduler and the operator reach the JetStream API of the runs bucket only
// (any run's key in it: the bucket is shared by the runs on one server).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import {
  DEFAULT_PREFIX, prefixSchema, RUNS_BUCKET, runSubjects, SERVICE_ROLES, type ServiceRole, WORKERS_BUCKET, workerCmdSubject,
} from './subjects.ts';
import { CertificateRequestError } from '../security/errors.ts';
import { isIdentityToken } from '../security/identity.ts';

export const NATS_ROLES: readonly string[] = [...SERVICE_ROLES, 'worker', 'scheduler', 'operator'];
export type NatsAuthMode = 'password' | 'nkey';

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  allowResponses: boolean;
}

export interface SubjectScope {
  prefix?: string;
  /** A run id, or "*" for every run on the server. */
  run?: string;
}

const RUN_PLACEHOLDER = 'RUNPLACEHOLDER';

/** The run's subjects with the run token replaced by `run` (which may be the wildcard "*"). */
function scopedSubjects(scope: SubjectScope) {
  const prefix = scope.prefix ?? DEFAULT_PREFIX;
  if (!prefixSchema.safeParse(prefix).success) throw new CertificateRequestError('prefix', `prefix: ${JSON.stringify(prefix)} is not dot-separated tokens of A-Z a-z 0-9 _ -`);
  const run = scope.run ?? '*';
  if (run !== '*' && !isIdentityToken(run)) throw new CertificateRequestError('run', `run: ${JSON.stringify(run)} is not "*" or 1-64 characters of A-Z a-z 0-9 _ -`);
  const s = runSubjects(RUN_PLACEHOLDER, prefix);
  const fix = (subject: string): string => subject.replace(`${prefix}.${RUN_PLACEHOLDER}.`, `${prefix}.${run}.`);
  return {
    cmd: (role: string) => fix(s.cmd(role as ServiceRole)),
    hb: (role: string) => fix(s.hb(role as 'scheduler')),
    hbAll: fix(s.hbAll),
    control: fix(s.control),
    progress: fix(s.progress),
    /** Every worker's command subject of the run (one token per worker key). */
    workerCmd: fix(workerCmdSubject(RUN_PLACEHOLDER, '*', prefix)),
    /** The run's registrations in the workers bucket (keys <run>.<worker key>). */
    workerKv: `$KV.${WORKERS_BUCKET}.${run}.>`,
  };
}

/**
 * The JetStream API of one KV bucket's stream (KV_<bucket>): stream and consumer calls name it as
 * their 4th or 5th token (STREAM.INFO.KV_x, STREAM.MSG.GET.KV_x, CONSUMER.CREATE.KV_x.>,
 * DIRECT.GET.KV_x.>), plus the account info call.
 */
function jetStreamOf(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return ['$JS.API.INFO', `$JS.API.*.*.${stream}`, `$JS.API.*.*.${stream}.>`, `$JS.API.*.*.*.${stream}`];
}

export function rolePermissions(role: string, scope: SubjectScope = {}): NatsPermissions {
  const s = scopedSubjects(scope);
  const jetstream = jetStreamOf(RUNS_BUCKET);
  const workersJs = jetStreamOf(WORKERS_BUCKET).filter((x) => !jetstream.includes(x));
  if (role === 'scheduler') {
    return {
      publish: [s.cmd('*'), `${s.cmd('discriminator')}.*`, s.workerCmd, s.hb('scheduler'), s.progress, ...jetstream, `$KV.${RUNS_BUCKET}.>`, ...workersJs],
      subscribe: [s.hbAll, s.control, '_INBOX.>'],
      allowResponses: true, // JetStream flow-control replies of KV watches and key listings
    };
  }
  if (role === 'operator') {
    return { publish: [s.control, ...jetstream], subscribe: [s.hbAll, s.progress, '_INBOX.>'], allowResponses: true };
  }
  if (role === 'worker') {
    return { publish: [...jetStreamOf(WORKERS_BUCKET), s.workerKv], subscribe: [s.workerCmd, '_INBOX.>'], allowResponses: true };
  }
  if (!isIdentityToken(role)) throw new CertificateRequestError('roles', `roles: ${JSON.stringify(role)} is not a subject token`);
  // The discriminator may run as a replica group: ranks >= 1 use <role>.<rank> subjects (subjects.ts).
  if (role === 'discriminator') return { publish: [s.hb(role), `${s.hb(role)}.*`], subscribe: [s.cmd(role), `${s.cmd(role)}.*`], allowResponses: true };
  return { publish: [s.hb(role)], subscribe: [s.cmd(role)], allowResponses: true };
}

export interface NatsCredential {
  role: string;
  /** Password mode: user name (the role) and a random password. */
  user?: string;
  password?: string;
  /** Nkey mode: the seed (secret, SU...) and its public key (U..., in the server config). */
  nkeySeed?: string;
  nkeyPublic?: string;
}

export function makeCredentials(roles: readonly string[], mode: NatsAuthMode): NatsCredential[] {
  return roles.map((role) => {
    if (mode === 'password') return { role, user: role, password: randomBytes(24).toString('base64url') };
    const kp = createUser();
    return { role, nkeySeed: new TextDecoder().decode(kp.getSeed()), nkeyPublic: kp.getPublicKey() };
  });
}

export interface NatsServerTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** Require client certificates signed by the CA. */
  verify: boolean;
}

export interface NatsServerConfigRequest extends SubjectScope {
  /** host:port the server listens on; default 0.0.0.0:4222 (a deployment; the local launcher needs none of this). */
  listen?: string;
  /** JetStream's store directory; when absent, nats-server's -sd flag must give it. */
  storeDir?: string;
  tls?: NatsServerTls;
}

const q = (s: string): string => JSON.stringify(s); // nats-server accepts JSON-quoted strings
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;

export function renderNatsServerConfig(req: NatsServerConfigRequest, creds: readonly NatsCredential[]): string {
  const users = creds.map((c) => {
    const p = rolePermissions(c.role, req);
    const who = c.nkeyPublic ? `nkey: ${q(c.nkeyPublic)}` : `user: ${q(c.user!)}, password: ${q(c.password!)}`;
    return `    # ${c.role}\n    { ${who}, permissions: {\n        publish: { allow: ${list(p.publish)} }\n        subscribe: { allow: ${list(p.subscribe)} }\n        allow_responses: ${p.allowResponses}\n    } }`;
  });
  const lines = [
    '# nats-server configuration for gantry, written by `gantry nats-config`: one user per role,',
    '# each allowed only the subjects its role uses (services/control/nats-config.ts).',
    `listen: ${q(req.listen ?? '0.0.0.0:4222')}`,
    // Without a store directory the command line gives it (nats-server -sd; both is an error).
    req.storeDir !== undefined ? `jetstream { store_dir: ${q(req.storeDir)} }` : 'jetstream: enabled',
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
  ];
  if (req.tls) {
    lines.push(`tls { cert_file: ${q(req.tls.certFile)}, key_file: ${q(req.tls.keyFile)}, ca_file: ${q(req.tls.caFile)}, verify: ${req.tls.verify}, timeout: 2 }`);
  }
  return `${lines.join('\n')}\n`;
}

/** The credential file of each role: nats-<role>.password or nats-<role>.nk. */
export function credentialFileName(c: NatsCredential): string {
  return c.nkeySeed ? `nats-${c.role}.nk` : `nats-${c.role}.password`;
}

/** Writes DIR/nats-server.conf and one credential file per role (mode 0600). Returns the paths. */
export async function writeNatsConfig(dir: string, req: NatsServerConfigRequest, creds: readonly NatsCredential[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'nats-server.conf');
  await writeFile(conf, renderNatsServerConfig(req, creds), { mode: 0o600 }); // it holds the passwords
  const written = [conf];
  for (const c of creds) {
    const p = path.join(dir, credentialFileName(c));
    await writeFile(p, `${c.nkeySeed ?? c.password}\n`, { mode: 0o600 });
    written.push(p);
  }
  return written;
}
