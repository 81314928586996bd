// NATS credentials and TLS of one process, from its settings (common-settings.ts): a user with a
// password file, or an nkey seed file; and TLS with a CA (and a client certificate when the
// server verifies clients). Files are read once at start-up; a missing companion setting, an
// unreadable file or a seed that is not a user seed fails naming the setting.
// The matching server side (users, per-role subject permissions, TLS) is written by
// `gantry nats-config` (services/control/nats-config.ts).
import { readFile } from 'node:fs/promises';
import { fromSeed } from '@nats-io/nkeys';
import type { TlsOptions } from '@nats-io/transport-node';
import { SecuritySettingError } from '../security/errors.ts';

export interface NatsAuthSettings {
  natsUser?: string;
  natsPasswordFile?: string;
  natsNkeyFile?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/** What connectNats passes to the client; empty for an anonymous plaintext connection. */
export interface NatsAuth {
  user?: string;
  pass?: string;
  /** A user nkey seed ("SU..."), signing the server's nonce. */
  nkeySeed?: Uint8Array;
  tls?: TlsOptions;
}

async function readSecret(field: string, file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new SecuritySettingError(field, 'unreadable', `${field}: cannot read ${file}: ${(err as Error).message}`, file, { cause: err });
  }
}

export async function loadNatsAuth(s: NatsAuthSettings): Promise<NatsAuth> {
  const auth: NatsAuth = {};
  if (s.natsNkeyFile !== undefined && (s.natsUser !== undefined || s.natsPasswordFile !== undefined)) {
    throw new SecuritySettingError('natsNkeyFile', 'conflict', 'natsNkeyFile (GANTRY_NATS_NKEY_FILE): use an nkey or a user and password, not both');
  }
  if (s.natsPasswordFile !== undefined && s.natsUser === undefined) {
    throw new SecuritySettingError('natsUser', 'missing', 'natsUser (--nats-user, GANTRY_NATS_USER): required with natsPasswordFile');
  }
  if (s.natsUser !== undefined) {
    auth.user = s.natsUser;
    if (s.natsPasswordFile !== undefined) auth.pass = await readSecret('natsPasswordFile', s.natsPasswordFile);
  }
  if (s.natsNkeyFile !== undefined) {
    const seed = await readSecret('natsNkeyFile', s.natsNkeyFile);
    if (!seed.startsWith('SU')) throw new SecuritySettingError('natsNkeyFile', 'malformed', `natsNkeyFile: ${s.natsNkeyFile} does not hold a user nkey seed (SU...)`, s.natsNkeyFile);
    try {
      fromSeed(new TextEncoder().encode(seed));
    } catch (err) {
      throw new SecuritySettingError('natsNkeyFile', 'malformed', `natsNkeyFile: ${s.natsNkeyFile}: not a valid nkey seed`, s.natsNkeyFile, { cause: err });
    }
    auth.nkeySeed = new TextEncoder().encode(seed);
  }
  if ((s.natsTlsCert === undefined) !== (s.natsTlsKey === undefined)) {
    const missing = s.natsTlsCert === undefined ? 'natsTlsCert (GANTRY_NATS_TLS_CERT)' : 'natsTlsKey (GANTRY_NATS_TLS_KEY)';
    throw new SecuritySettingError(s.natsTlsCert === undefined ? 'natsTlsCert' : 'natsTlsKey', 'missing', `${missing}: a client certificate needs its key and the key its certificate`);
  }
  if (s.natsTlsCa !== undefined || s.natsTlsCert !== undefined) {
    auth.tls = {
      ...(s.natsTlsCa !== undefined ? { caFile: s.natsTlsCa } : {}),
      ...(s.natsTlsCert !== undefined ? { certFile: s.natsTlsCert, keyFile: s.natsTlsKey } : {}),
    };
  }
  return auth;
}
