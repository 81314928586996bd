// TFRecord framing (tensorflow/core/lib/io/record_writer.cc). Each record is
//   uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
// all little-endian. A whole file may also be gzipped (TFRecordOptions compression_type='GZIP').
import { maskedCrc32c } from './crc32c.ts';
import { RecordCorruptError } from './errors.ts';
import { readMaybeGzip, writeFileAtomic } from './files.ts';

const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;

/** The framing of one record: 12 header bytes and 4 footer bytes around `data`. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + data.length + FOOTER_BYTES);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, HEADER_BYTES);
  view.setUint32(HEADER_BYTES + data.length, maskedCrc32c(data), true);
  return out;
}

/** The bytes of a TFRecord file holding `records` in order. */
export function encodeTFRecords(records: Iterable<Uint8Array>): Uint8Array {
  const framed = Array.from(records, frameRecord);
  return Buffer.concat(framed);
}

/**
 * Splits a TFRecord file's bytes into records, verifying both CRCs of every record. The records
 * are views into `bytes` (no copies). `file` only labels errors.
 */
export function decodeTFRecords(bytes: Uint8Array, file: string): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const index = records.length;
    const corrupt = (what: string): never => { throw new RecordCorruptError(file, index, offset, what); };
    const left = bytes.length - offset;
    if (left < HEADER_BYTES) corrupt(`truncated: expected a ${HEADER_BYTES}-byte record header, found ${left} bytes`);
    const lengthCrc = maskedCrc32c(bytes.subarray(offset, offset + 8));
    const storedLengthCrc = view.getUint32(offset + 8, true);
    if (lengthCrc !== storedLengthCrc) {
      corrupt(`length CRC mismatch: expected ${hex32(lengthCrc)}, found ${hex32(storedLengthCrc)}`);
    }
    const length = Number(view.getBigUint64(offset, true));
    const need = HEADER_BYTES + length + FOOTER_BYTES;
    if (left < need) corrupt(`truncated: expected ${need} bytes for a ${length}-byte record, found ${left}`);
    const data = bytes.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
    const dataCrc = maskedCrc32c(data);
    const storedDataCrc = view.getUint32(offset + HEADER_BYTES + length, true);
    if (dataCrc !== storedDataCrc) {
      corrupt(`data CRC mismatch: expected ${hex32(dataCrc)}, found ${hex32(storedDataCrc)}`);
    }
    records.push(data);
    offset += need;
  }
  return records;
}

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** Reads every record of a TFRecord file (plain or gzip), verifying CRCs. */
export async function readTFRecord(path: string): Promise<Uint8Array[]> {
  const { bytes } = await readMaybeGzip(path);
  return decodeTFRecords(bytes, path);
}

/** Writes `records` as a TFRecord file, gzipped on request. */
export async function writeTFRecord(path: string, records: Iterable<Uint8Array>, opts: { gzip?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, [encodeTFRecords(records)], opts);
}
