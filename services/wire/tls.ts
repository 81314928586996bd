// TLS for the data plane: the CA, certificate and key files a process is configured with
// (--tls-ca, --tls-cert, --tls-key, --mtls or GANTRY_TLS_*; services/control/common-settings.ts),
// loaded once, and the grpc-js credentials made from them.
//
// One set of files serves both directions: a service's certificate is its server certificate and,
// when it calls its peer, its client certificate; the CA verifies the other side either way.
//   no files                 plaintext (loopback only unless --insecure: security/listeners.ts)
//   CA + cert + key          TLS: clients verify the server against the CA and its name
//   ... and mtls             mutual TLS: the server also demands a client certificate signed by
//                            the CA, and each data-plane method checks the caller's role (peer-auth.ts)
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { SecuritySettingError } from '../security/errors.ts';
import { peerIdentity } from '../security/identity.ts';

export interface GrpcTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** Require and check client certificates (server side). */
  mtls: boolean;
}

/** The TLS settings as configured: file paths and the mtls switch. */
export interface TlsFileSettings {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  mtls?: boolean;
}

const FILE_FIELDS = [['tlsCa', '--tls-ca', 'GANTRY_TLS_CA'], ['tlsCert', '--tls-cert', 'GANTRY_TLS_CERT'], ['tlsKey', '--tls-key', 'GANTRY_TLS_KEY']] as const;

async function readPem(field: string, file: string): Promise<Buffer> {
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (err) {
    throw new SecuritySettingError(field, 'unreadable', `${field}: cannot read ${file}: ${(err as Error).message}`, file, { cause: err });
  }
  if (!text.includes('-----BEGIN ')) throw new SecuritySettingError(field, 'malformed', `${field}: ${file} is not a PEM file`, file);
  return text;
}

/** The loaded files, or undefined for plaintext. All three files or none; mtls needs them. */
export async function loadGrpcTls(s: TlsFileSettings): Promise<GrpcTls | undefined> {
  const given = FILE_FIELDS.filter(([f]) => s[f] !== undefined);
  if (given.length === 0) {
    if (s.mtls) throw new SecuritySettingError('mtls', 'missing', 'mtls (--mtls, GANTRY_MTLS) needs --tls-ca, --tls-cert and --tls-key (GANTRY_TLS_CA, GANTRY_TLS_CERT, GANTRY_TLS_KEY)');
    return undefined;
  }
  const missing = FILE_FIELDS.find(([f]) => s[f] === undefined);
  if (missing) {
    throw new SecuritySettingError(missing[0], 'missing',
      `${missing[0]} (${missing[1]}, ${missing[2]}): required with ${given.map(([f]) => f).join(' and ')}: TLS needs the CA, the certificate and its key`);
  }
  return {
    ca: await readPem('tlsCa', s.tlsCa!),
    cert: await readPem('tlsCert', s.tlsCert!),
    key: await readPem('tlsKey', s.tlsKey!),
    mtls: s.mtls ?? false,
  };
}

export function serverCredentials(tls: GrpcTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], tls.mtls);
}

/**
 * Client credentials: the CA verifies the server (name and chain); the certificate is presented
 * when the server asks for one. With `serverRole`, the server's certificate must also carry that
 * gantry role: a generator client talks to a generator, not to any holder of a run certificate.
 */
export function channelCredentials(tls: GrpcTls | undefined, serverRole?: string): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity: (hostname: string, cert: PeerCertificate) => {
      const nameError = checkServerIdentity(hostname, cert);
      if (nameError) return nameError;
      if (serverRole === undefined) return undefined;
      const id = peerIdentity(cert);
      if (id?.role === serverRole) return undefined;
      return new Error(`the server at ${hostname} presents role ${JSON.stringify(id?.role ?? 'none')}, expected ${JSON.stringify(serverRole)}`);
    },
  });
}
