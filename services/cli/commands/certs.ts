// `gantry certs` and `gantry nats-config`: the files that turn on the security of a distributed
// run. `certs` makes a development CA and a key + certificate per role (services/security/certs.ts);
// `nats-config` a nats-server configuration with one user per role, its subject permissions and
// TLS, and each role's credential file (services/control/nats-config.ts). Both print the paths
// they wrote and the settings each process then needs.
import path from 'node:path';
import type { Command } from 'commander';
import { CERT_ROLES } from '../../security/identity.ts';
import { CertificateRequestError } from '../../security/errors.ts';
import { credentialFileName, makeCredentials, NATS_ROLES, type NatsAuthMode, writeNatsConfig } from '../../control/nats-config.ts';
import { UsageError } from '../errors.ts';

const list = (v: string): string[] => v.split(',').map((x) => x.trim()).filter((x) => x !== '');

function integer(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: expected a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function usage<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((err: unknown) => {
    if (err instanceof CertificateRequestError) throw new UsageError(`--${err.message}`); // the message starts with the field
    throw err;
  });
}

interface CertsOptions { out: string; roles?: string; run?: string; days: string; hosts?: string }
interface NatsConfigOptions { out: string; roles?: string; run: string; subjectPrefix?: string; auth: string; listen: string; storeDir: string; tlsDir?: string; verifyClients: boolean }

async function certs(opts: CertsOptions): Promise<void> {
  // Loaded only here: @peculiar/x509 and its Reflect polyfill are not every command's start-up cost.
  const { issueCertificates, writeCertificates } = await import('../../security/certs.ts');
  const bundle = await usage(() => issueCertificates({
    roles: opts.roles !== undefined ? list(opts.roles) : undefined, run: opts.run, days: integer('--days', opts.days),
    hosts: opts.hosts !== undefined ? list(opts.hosts) : undefined,
  }));
  const written = await writeCertificates(opts.out, bundle);
  const dir = path.resolve(opts.out);
  process.stdout.write(`${written.join('\n')}\n\nFor each service ROLE (mutual TLS on the data plane):\n` +
    `  GANTRY_TLS_CA=${dir}/ca.crt GANTRY_TLS_CERT=${dir}/ROLE.crt GANTRY_TLS_KEY=${dir}/ROLE.key GANTRY_MTLS=1\n` +
    'ca.key signs certificates: keep it off the machines that run gantry.\n');
}

async function natsConfig(opts: NatsConfigOptions): Promise<void> {
  if (opts.auth !== 'password' && opts.auth !== 'nkey') throw new UsageError(`--auth: expected password or nkey, got ${JSON.stringify(opts.auth)}`);
  const roles = opts.roles !== undefined ? list(opts.roles) : [...NATS_ROLES];
  const tls = opts.tlsDir === undefined ? undefined : {
    certFile: path.resolve(opts.tlsDir, 'nats.crt'), keyFile: path.resolve(opts.tlsDir, 'nats.key'), caFile: path.resolve(opts.tlsDir, 'ca.crt'),
    verify: opts.verifyClients,
  };
  const creds = makeCredentials(roles, opts.auth as NatsAuthMode);
  const written = await usage(() => writeNatsConfig(opts.out, {
    run: opts.run, prefix: opts.subjectPrefix, listen: opts.listen, storeDir: opts.storeDir, tls,
  }, creds));
  const dir = path.resolve(opts.out);
  const how = creds.map((c) => c.nkeySeed
    ? `  ${c.role}: GANTRY_NATS_NKEY_FILE=${dir}/${credentialFileName(c)}`
    : `  ${c.role}: GANTRY_NATS_USER=${c.user} GANTRY_NATS_PASSWORD_FILE=${dir}/${credentialFileName(c)}`);
  const tlsHint = tls ? `\nWith TLS, also GANTRY_NATS_TLS_CA=${tls.caFile}${tls.verify ? ' and GANTRY_NATS_TLS_CERT / GANTRY_NATS_TLS_KEY (the role\'s certificate)' : ''}\n` : '';
  process.stdout.write(`${written.join('\n')}\n\nStart: nats-server -c ${dir}/nats-server.conf\nEach process:\n${how.join('\n')}\n${tlsHint}`);
}

export function register(program: Command): void {
  program
    .command('certs')
    .description('make a development CA and a key + certificate per role (gRPC mutual TLS, NATS TLS)')
    .requiredOption('--out <dir>', 'directory to write ca.crt, ca.key, ROLE.crt, ROLE.key into')
    .option('--roles <list>', `comma-separated roles (default ${CERT_ROLES.join(',')})`)
    .option('--run <id>', 'bind the certificates to this run (SAN URI spiffe://gantry/<run>/<role>); default: any run')
    .option('--days <n>', 'validity in days (1-3650)', '365')
    .option('--hosts <list>', 'extra DNS names or IP addresses for every certificate (besides localhost, 127.0.0.1, ::1)')
    .action(certs);
  program
    .command('nats-config')
    .description('write a nats-server config with a user and subject permissions per role, and each role\'s credential file')
    .requiredOption('--out <dir>', 'directory to write nats-server.conf and the credential files into')
    .option('--roles <list>', `comma-separated roles (default ${NATS_ROLES.join(',')})`)
    .option('--run <id>', 'limit the permissions to this run ("*": any run)', '*')
    .option('--subject-prefix <prefix>', 'subject prefix of the runs')
    .option('--auth <mode>', 'password (a random password per role) or nkey (a user nkey per role)', 'password')
    .option('--listen <host:port>', 'where nats-server listens', '0.0.0.0:4222')
    .option('--store-dir <dir>', 'JetStream store directory', '/data/jetstream')
    .option('--tls-dir <dir>', 'a `gantry certs` directory: serve TLS with its nats.crt/nats.key and ca.crt')
    .option('--no-verify-clients', 'with --tls-dir: do not require client certificates')
    .action(natsConfig);
}
