// Errors of the security settings: certificates, TLS files, listeners and NATS credentials.
// Each names the setting (field) it is about and, where there is one, the file or address, so a
// misconfigured deployment is told which variable or flag to fix.

/** A TLS or credentials setting is incomplete or its file cannot be used. */
export class SecuritySettingError extends Error {
  override readonly name = 'SecuritySettingError';
  constructor(
    /** The config field, e.g. "tlsKey" or "natsNkeyFile". */
    readonly field: string,
    /** What is wrong: a required companion setting is missing, a file unreadable or malformed. */
    readonly kind: 'missing' | 'unreadable' | 'malformed' | 'conflict',
    message: string,
    /** The file concerned, when there is one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A gRPC listener on a non-loopback address without TLS, and --insecure was not given. */
export class InsecureListenerError extends Error {
  override readonly name = 'InsecureListenerError';
  readonly field = 'grpcHost';
  /** The flag and the variable that allow it anyway. */
  readonly flag = '--insecure';
  readonly env = 'GANTRY_INSECURE';
  constructor(
    /** The address that was refused, e.g. "0.0.0.0:50051". */
    readonly address: string,
  ) {
    super(
      `refusing to serve plaintext gRPC on ${address}: it is not a loopback address, so anyone who reaches it could drive ` +
        'the data plane. Turn on TLS (--tls-ca, --tls-cert, --tls-key; --mtls) or pass --insecure (GANTRY_INSECURE=1) to allow it',
    );
  }
}

/** A bad argument of `gantry certs` or `gantry nats-config` (e.g. a role name that is not a subject token). */
export class CertificateRequestError extends Error {
  override readonly name = 'CertificateRequestError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
