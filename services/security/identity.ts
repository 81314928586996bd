// The identity a gantry certificate carries, and reading it back from a peer's certificate.
//
// A certificate made by `gantry certs` names its role twice: the subject CN (<role>) and a SAN URI
// in SPIFFE form,
//   spiffe://gantry/<run>/<role>   bound to one run (`gantry certs --run ID`)
//   spiffe://gantry/<role>         valid for any run that trusts the same CA
// A server with mutual TLS reads the URI (or, from a certificate without one, the CN) to decide
// which data-plane methods the caller may use (services/wire/peer-auth.ts). The CA is the trust
// anchor: only certificates it signed get this far, so the names are as good as the CA's key.
import type { PeerCertificate } from 'node:tls';

export const TRUST_DOMAIN = 'gantry';

/** The roles of a run's processes that can hold a certificate ("nats": the NATS server's own). */
export const CERT_ROLES = ['generator', 'discriminator', 'scheduler', 'worker', 'nats'] as const;

const TOKEN_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface PeerIdentity {
  role: string;
  /** The run the certificate is bound to; undefined when valid for any run. */
  run?: string;
  /** Where the identity was read: the SAN URI or, failing that, the subject CN. */
  source: 'uri' | 'cn';
}

export function isIdentityToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/** spiffe://gantry/<run>/<role>, or spiffe://gantry/<role> without a run. */
export function identityUri(role: string, run?: string): string {
  return run === undefined ? `spiffe://${TRUST_DOMAIN}/${role}` : `spiffe://${TRUST_DOMAIN}/${run}/${role}`;
}

/** The identity in one URI, or undefined when it is not a gantry SPIFFE id. */
export function parseIdentityUri(uri: string): PeerIdentity | undefined {
  const prefix = `spiffe://${TRUST_DOMAIN}/`;
  if (!uri.startsWith(prefix)) return undefined;
  const parts = uri.slice(prefix.length).split('/');
  if (!parts.every(isIdentityToken)) return undefined;
  if (parts.length === 1) return { role: parts[0], source: 'uri' };
  if (parts.length === 2) return { run: parts[0], role: parts[1], source: 'uri' };
  return undefined;
}

/**
 * The URIs of Node's `subjectaltname` text, e.g.
 * "DNS:localhost, IP Address:127.0.0.1, URI:spiffe://gantry/r1/generator".
 */
function sanUris(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname.split(', ').filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
}

/** The gantry identity of a verified peer certificate; undefined when it carries none. */
export function peerIdentity(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'> | undefined): PeerIdentity | undefined {
  if (!cert) return undefined;
  const fromUri = sanUris(cert.subjectaltname).map(parseIdentityUri).find((x) => x !== undefined);
  if (fromUri) return fromUri;
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && isIdentityToken(name) ? { role: name, source: 'cn' } : undefined;
}
