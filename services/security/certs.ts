// `gantry certs`: a development certificate authority and one key + certificate per role, for
// gRPC mutual TLS (services/wire/tls.ts) and NATS TLS. Not a production PKI: the CA key is written
// next to the certificates; a deployment with its own CA (cert-manager, Vault) issues the same
// identities instead (CN=<role>, SAN URI spiffe://gantry[/<run>]/<role>, identity.ts).
//
// Keys are ECDSA P-256 (fast to make, accepted by Node's TLS and nats-server); certificates are
// X.509 v3 made with @peculiar/x509 over Node's WebCrypto. Every role certificate is valid for
// both TLS server and client authentication (a service both serves gRPC and calls its peer) and
// names localhost, 127.0.0.1, ::1 and the given hosts, so a client can check the server's name.
//
// Files (keys mode 0600):
//   DIR/ca.crt  DIR/ca.key            the CA
//   DIR/<role>.crt  DIR/<role>.key    one pair per role
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs the Reflect polyfill
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { CertificateRequestError } from './errors.ts';
import { CERT_ROLES, identityUri, isIdentityToken } from './identity.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = webcrypto.CryptoKeyPair;
type Key = webcrypto.CryptoKey;

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'];
const MAX_DAYS = 3650;

export const DEFAULT_CERT_ROLES: readonly string[] = CERT_ROLES;

export interface CertRequest {
  roles?: readonly string[];
  /** Binds each role certificate to this run (spiffe://gantry/<run>/<role>). */
  run?: string;
  /** Validity in days, 1 to 3650 (default 365). */
  days?: number;
  /** Extra DNS names or IP addresses for every role certificate (e.g. Kubernetes service names). */
  hosts?: readonly string[];
  /** For tests: a CA with another name, to show a foreign CA is refused. */
  caName?: string;
}

export interface PemPair {
  cert: string;
  key: string;
}

export interface CertBundle {
  ca: PemPair;
  roles: Record<string, PemPair>;
}

function validate(req: CertRequest): { roles: string[]; days: number; hosts: string[] } {
  const roles = [...(req.roles ?? DEFAULT_CERT_ROLES)];
  if (roles.length === 0) throw new CertificateRequestError('roles', 'roles: expected at least one role');
  for (const r of roles) {
    if (!isIdentityToken(r)) throw new CertificateRequestError('roles', `roles: ${JSON.stringify(r)} is not 1-64 characters of A-Z a-z 0-9 _ -`);
  }
  if (new Set(roles).size !== roles.length) throw new CertificateRequestError('roles', `roles: duplicates in ${roles.join(',')}`);
  if (req.run !== undefined && !isIdentityToken(req.run)) {
    throw new CertificateRequestError('run', `run: ${JSON.stringify(req.run)} is not 1-64 characters of A-Z a-z 0-9 _ -`);
  }
  const days = req.days ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw new CertificateRequestError('days', `days: expected an integer from 1 to ${MAX_DAYS}, found ${days}`);
  const hosts = [...DEFAULT_HOSTS];
  for (const h of req.hosts ?? []) {
    if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(h)) throw new CertificateRequestError('hosts', `hosts: ${JSON.stringify(h)} is not a DNS name or an IP address`);
    if (!hosts.includes(h)) hosts.push(h);
  }
  return { roles, days, hosts };
}

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as KeyPair;
}

async function keyPem(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

const pemOf = (c: x509.X509Certificate): string => `${c.toString('pem')}\n`;

/** A fresh CA and a certificate per role, as PEM text. */
export async function issueCertificates(req: CertRequest = {}): Promise<CertBundle> {
  const { roles, days, hosts } = validate(req);
  // A minute of slack: a peer whose clock is slightly behind still accepts a certificate made now.
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const caKeys = await keyPair();
  const caName = `CN=${req.caName ?? 'gantry development CA'}, O=gantry`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: caName, notBefore, notAfter, keys: caKeys, signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const sans: x509.JsonGeneralNames = hosts.map((h) => ({ type: isIP(h) ? 'ip' : 'dns', value: h }));
  const out: Record<string, PemPair> = {};
  for (const role of roles) {
    const keys = await keyPair();
    const cert = await x509.X509CertificateGenerator.create({
      subject: `CN=${role}, O=gantry`, issuer: ca.subject, notBefore, notAfter,
      publicKey: keys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: SIGN_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([...sans, { type: 'url', value: identityUri(role, req.run) }]),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    out[role] = { cert: pemOf(cert), key: await keyPem(keys.privateKey) };
  }
  return { ca: { cert: pemOf(ca), key: await keyPem(caKeys.privateKey) }, roles: out };
}

/** The files `gantry certs --out DIR` writes, by name. */
export function certFiles(bundle: CertBundle): Record<string, string> {
  const files: Record<string, string> = { 'ca.crt': bundle.ca.cert, 'ca.key': bundle.ca.key };
  for (const [role, pair] of Object.entries(bundle.roles)) {
    files[`${role}.crt`] = pair.cert;
    files[`${role}.key`] = pair.key;
  }
  return files;
}

/** Writes the bundle into `dir` (created); keys readable by the owner only. Returns the paths. */
export async function writeCertificates(dir: string, bundle: CertBundle): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of Object.entries(certFiles(bundle))) {
    const p = path.join(dir, name);
    await writeFile(p, text, { mode: name.endsWith('.key') ? 0o600 : 0o644 });
    written.push(p);
  }
  return written;
}
