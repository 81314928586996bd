// The security commands and settings as a user meets them, through the real `gantry` binary:
// `gantry certs` writes a CA and role certificates carrying the role and run; `gantry nats-config`
// writes a config nats-server accepts; `gantry serve` refuses a plaintext gRPC listener on a
// non-loopback address unless --insecure, and incomplete TLS settings, naming the flag to fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { GANTRY_BIN } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';

const run = promisify(execFile);

/** Runs `gantry ...args`; resolves with the exit code and output (never rejects on a non-zero exit). */
async function gantry(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GANTRY_BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('gantry certs: a CA and per-role certificates with the role and run in their identity; keys private', async () => {
  const dir = await tempDir('gantry-certs-cli-');
  try {
    const r = await gantry(['certs', '--out', dir, '--roles', 'generator,discriminator', '--run', 'r7', '--hosts', 'gantry-generator,10.1.2.3', '--days', '2']);
    assert.equal(r.code, 0, r.stderr);
    const ca = new X509Certificate(await readFile(path.join(dir, 'ca.crt')));
    assert.ok(ca.ca);
    for (const role of ['generator', 'discriminator']) {
      const cert = new X509Certificate(await readFile(path.join(dir, `${role}.crt`)));
      assert.ok(cert.verify(ca.publicKey), `${role} is signed by the CA`);
      assert.match(cert.subject, new RegExp(`^CN=${role}$`, 'm'));
      assert.match(cert.subjectAltName ?? '', new RegExp(`URI:spiffe://gantry/r7/${role}`));
      assert.match(cert.subjectAltName ?? '', /DNS:localhost, IP Address:127\.0\.0\.1, .*DNS:gantry-generator, IP Address:10\.1\.2\.3/);
      const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
      assert.ok(Math.abs(days - 2) < 0.01, `valid ${days} days`);
      assert.equal((await stat(path.join(dir, `${role}.key`))).mode & 0o777, 0o600);
    }
    const bad = await gantry(['certs', '--out', dir, '--roles', 'a b']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--roles: "a b" is not 1-64 characters/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('gantry nats-config: nats-server accepts the config it writes (TLS from a certs directory)', async () => {
  const dir = await tempDir('gantry-nats-config-cli-');
  try {
    assert.equal((await gantry(['certs', '--out', path.join(dir, 'certs'), '--roles', 'nats'])).code, 0);
    const r = await gantry(['nats-config', '--out', path.join(dir, 'nats'), '--auth', 'nkey', '--run', 'r7', '--tls-dir', path.join(dir, 'certs'),
      '--store-dir', path.join(dir, 'js'), '--listen', '127.0.0.1:4333']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /generator: GANTRY_NATS_NKEY_FILE=.*nats-generator\.nk/);
    const conf = path.join(dir, 'nats', 'nats-server.conf');
    assert.match(await readFile(conf, 'utf8'), /"gantry\.r7\.cmd\.generator"/);
    const check = await run('nats-server', ['-t', '-c', conf]).then(() => 0, (e: { code?: number }) => e.code ?? -1);
    assert.equal(check, 0, 'nats-server -t accepts the configuration');
    assert.match(await readFile(path.join(dir, 'nats', 'nats-operator.nk'), 'utf8'), /^SU[A-Z2-7]+\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const serveEnv = { GANTRY_RUN_ID: 'r7', GANTRY_RUN_DIR: '/tmp', GANTRY_DISCRIMINATOR_ADDR: '127.0.0.1:1', GANTRY_NATS_URL: 'nats://127.0.0.1:1', GANTRY_BACKEND: 'cpu' };

test('gantry serve: a plaintext gRPC listener on a non-loopback address is refused, naming the address and --insecure', async () => {
  const r = await gantry(['serve', 'generator', '--grpc-host', '0.0.0.0', '--grpc-port', '50999'], serveEnv);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refusing to serve plaintext gRPC on 0\.0\.0\.0:50999.*--insecure \(GANTRY_INSECURE=1\)/);
  // Incomplete TLS settings fail too, naming the missing flag and variable.
  const tls = await gantry(['serve', 'generator', '--tls-cert', '/nonexistent.crt'], serveEnv);
  assert.notEqual(tls.code, 0);
  assert.match(tls.stderr, /tlsCa \(--tls-ca, GANTRY_TLS_CA\): required with tlsCert/);
});
