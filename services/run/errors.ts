// Errors of the run directory: safetensors files, checkpoints, run.json, metrics.jsonl. Every
// message names the file, what was expected and what was found, so a user can tell which file is
// damaged and whether an older checkpoint is still good.

/** Base class: anything wrong with a file of a run directory. */
export class RunFileError extends Error {
  override readonly name: string = 'RunFileError';
  /** The file (or directory) the error is about. */
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.file = file;
  }
}

/** A safetensors file is malformed, truncated, or holds a dtype gantry does not read. */
export class SafetensorsError extends RunFileError {
  override readonly name: string = 'SafetensorsError';
  /** The tensor the damage was found in, when it is about one tensor. */
  readonly tensor: string | undefined;

  constructor(file: string, message: string, options?: { tensor?: string; cause?: unknown }) {
    super(file, message, options);
    this.tensor = options?.tensor;
  }
}

/** A checkpoint is missing, half-written, or does not match its manifest. */
export class CheckpointError extends RunFileError {
  override readonly name: string = 'CheckpointError';
  /** For hash mismatches: the sha256 the manifest lists and the one found on disk. */
  readonly expected: string | undefined;
  readonly found: string | undefined;

  constructor(
    file: string,
    message: string,
    options?: { expected?: string; found?: string; cause?: unknown },
  ) {
    super(file, message, options);
    this.expected = options?.expected;
    this.found = options?.found;
  }
}

/** The run directory itself (creation, run.json, config.json, metrics.jsonl) is unusable. */
export class RunDirError extends RunFileError {
  override readonly name: string = 'RunDirError';
}

/**
 * Writing a file of the run failed (ENOSPC, EACCES, EROFS, EIO...). The message names the file
 * and the cause once ("cannot write F: ENOSPC (no space left on device)"); `code` is the errno
 * code. The write was to a temporary name, so the file it replaces, if any, is intact.
 */
export class RunWriteError extends RunFileError {
  override readonly name: string = 'RunWriteError';
  readonly code: string | undefined;

  constructor(file: string, cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    super(file, `cannot write ${file}: ${code ? `${code} (${describe(code, e.message)})` : (cause as Error)?.message ?? String(cause)}`, { cause });
    this.code = code;
  }

  /** `err` as a RunWriteError about `file`, unless it already is one. */
  static of(file: string, err: unknown): RunWriteError {
    return err instanceof RunWriteError ? err : new RunWriteError(file, err);
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ENOENT: 'no such directory',
};

/** The errno's text without Node's "CODE: text, syscall 'path'" decoration. */
function describe(code: string, message: string | undefined): string {
  return ERRNO_TEXT[code] ?? message?.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '') ?? code;
}
