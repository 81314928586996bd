// Errors of the data layer. Every message names the file, what was expected and what was found,
// so a user with a broken download can tell which file to fetch again.

/** Base class: anything wrong with a dataset on disk. */
export class DataError extends Error {
  override readonly name: string = 'DataError';
  /** The file (or directory) the error is about. */
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.file = file;
  }
}

/** A file exists but its bytes are not what its format requires (magic, sizes, CRCs, fields). */
export class DataFormatError extends DataError {
  override readonly name: string = 'DataFormatError';
}

/**
 * A TFRecord record failed its CRC or was cut short; locates the damage by record index and byte
 * offset of the record's header (in the decompressed stream when the file is gzipped).
 */
export class RecordCorruptError extends DataFormatError {
  override readonly name: string = 'RecordCorruptError';
  readonly recordIndex: number;
  readonly byteOffset: number;

  constructor(file: string, recordIndex: number, byteOffset: number, what: string) {
    super(file, `${file}: record ${recordIndex} at byte offset ${byteOffset}: ${what}`);
    this.recordIndex = recordIndex;
    this.byteOffset = byteOffset;
  }
}

/** None of the file names a dataset may use exists; the message lists every name tried. */
export class DataNotFoundError extends DataError {
  override readonly name: string = 'DataNotFoundError';
  readonly tried: string[];

  constructor(dir: string, what: string, tried: string[]) {
    super(dir, `${dir}: no ${what} found; tried ${tried.join(', ')}`);
    this.tried = tried;
  }
}
