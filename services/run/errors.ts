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
