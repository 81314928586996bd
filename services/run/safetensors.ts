// The safetensors format (huggingface/safetensors), float32 only:
//   u64 little-endian N | N bytes of JSON header, space-padded so the data starts 8-byte aligned |
//   data: every tensor's little-endian bytes, back to back, at header.data_offsets (relative to
//   the start of the data).
// The header maps tensor names to {dtype, shape, data_offsets} plus "__metadata__" (string to
// string). JSON object order is not preserved by other writers (the Rust writer sorts), so the
// tensor order is kept in __metadata__["gantry.order"]; files without it are read in file order.
// Loaders check every offset against the file length, so a truncated file fails by name.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { writeFileAtomic } from './atomic-file.ts';
import { SafetensorsError } from './errors.ts';
import { checkTensorEntries, isValidShape, numel, type TensorEntry } from './tensor-entry.ts';

export const ORDER_KEY = 'gantry.order';
/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length). */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsContents {
  tensors: TensorEntry[];
  metadata: Record<string, string>;
}

export interface SafetensorsWritten {
  path: string;
  bytes: number;
  sha256: string;
}

/** One header entry, as found in the file. */
export interface SafetensorsHeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  dataOffsets: [number, number];
}

function assertLittleEndianHost(): void {
  if (os.endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported');
}

/** The file as a list of chunks: the header, then views (no copies) of each tensor's data. */
export function encodeSafetensors(tensors: readonly TensorEntry[], metadata: Record<string, string> = {}): Uint8Array[] {
  assertLittleEndianHost();
  const problem = checkTensorEntries(tensors, 'safetensors');
  if (problem) throw new Error(problem);
  if (ORDER_KEY in metadata) throw new Error(`safetensors: metadata key "${ORDER_KEY}" is reserved`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new Error(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
  }
  const header: Record<string, unknown> = {
    __metadata__: { ...metadata, [ORDER_KEY]: JSON.stringify(tensors.map((t) => t.name)) },
  };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new Error('safetensors: a tensor may not be named "__metadata__"');
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const data = tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return [prefix, headerBytes, ...data];
}

/** Writes atomically (temp file, fsync, rename); returns the size and sha256 of what was written. */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorEntry[],
  metadata: Record<string, string> = {},
): Promise<SafetensorsWritten> {
  const chunks = encodeSafetensors(tensors, metadata);
  const hash = createHash('sha256');
  let bytes = 0;
  for (const c of chunks) {
    hash.update(c);
    bytes += c.byteLength;
  }
  await writeFileAtomic(path, chunks);
  return { path, bytes, sha256: hash.digest('hex') };
}

/** Parses the length prefix and JSON header; `fileBytes` is the whole file's size. */
function parseHeader(
  file: string,
  prefixAndHeader: Uint8Array,
  fileBytes: number,
): { entries: SafetensorsHeaderEntry[]; metadata: Record<string, string>; dataStart: number } {
  if (fileBytes < 8) throw new SafetensorsError(file, `${file}: ${fileBytes} bytes; a safetensors file has at least 8`);
  const n = Buffer.from(prefixAndHeader.buffer, prefixAndHeader.byteOffset, 8).readBigUInt64LE();
  if (n > BigInt(MAX_HEADER_BYTES) || Number(n) > fileBytes - 8) {
    throw new SafetensorsError(file, `${file}: header length ${n} exceeds the file (${fileBytes} bytes): truncated or not safetensors`);
  }
  const headerLen = Number(n);
  let raw: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(prefixAndHeader.subarray(8, 8 + headerLen));
    raw = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(file, `${file}: header is not valid UTF-8 JSON`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError(file, `${file}: header must be a JSON object`);
  }
  const { __metadata__: meta, ...rest } = raw as Record<string, unknown>;
  const metadata = parseMetadata(file, meta);
  const entries = Object.entries(rest).map(([name, value]) => parseEntry(file, name, value));
  return { entries, metadata, dataStart: 8 + headerLen };
}

function parseMetadata(file: string, meta: unknown): Record<string, string> {
  if (meta === undefined) return {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new SafetensorsError(file, `${file}: __metadata__ must be an object of strings`);
  }
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') throw new SafetensorsError(file, `${file}: __metadata__.${k} must be a string, found ${typeof v}`);
  }
  return { ...(meta as Record<string, string>) };
}

function parseEntry(file: string, name: string, value: unknown): SafetensorsHeaderEntry {
  const bad = (what: string): SafetensorsError =>
    new SafetensorsError(file, `${file}: tensor "${name}": ${what}`, { tensor: name });
  if (typeof value !== 'object' || value === null) throw bad('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('missing dtype');
  if (dtype !== 'F32') throw bad(`dtype ${dtype} is not supported; gantry reads F32 only`);
  if (!isValidShape(shape)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (end - begin !== numel(shape) * 4) {
    throw bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes; shape [${shape.join(', ')}] needs ${numel(shape) * 4}`);
  }
  return { name, dtype, shape, dataOffsets: [begin, end] };
}

/** Data regions must tile [0, dataBytes) exactly: no overlap, no gap, nothing past the end. */
function checkLayout(file: string, entries: readonly SafetensorsHeaderEntry[], dataBytes: number): void {
  const sorted = [...entries].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let expected = 0;
  for (const e of sorted) {
    const [begin, end] = e.dataOffsets;
    if (end > dataBytes) {
      throw new SafetensorsError(
        file,
        `${file}: tensor "${e.name}" needs data bytes [${begin}, ${end}) but the file has only ${dataBytes}: truncated`,
        { tensor: e.name },
      );
    }
    if (begin !== expected) {
      throw new SafetensorsError(file, `${file}: tensor "${e.name}" starts at data byte ${begin}, expected ${expected} (overlap or gap)`, {
        tensor: e.name,
      });
    }
    expected = end;
  }
  if (expected !== dataBytes) {
    throw new SafetensorsError(file, `${file}: ${dataBytes - expected} bytes after the last tensor; expected the data to end at ${expected}`);
  }
}

/** Orders entries by __metadata__["gantry.order"] when present, else by position in the file. */
function orderEntries(file: string, entries: SafetensorsHeaderEntry[], metadata: Record<string, string>): SafetensorsHeaderEntry[] {
  const orderJson = metadata[ORDER_KEY];
  if (orderJson === undefined) return [...entries].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
  let order: unknown;
  try {
    order = JSON.parse(orderJson);
  } catch (err) {
    throw new SafetensorsError(file, `${file}: __metadata__["${ORDER_KEY}"] is not JSON`, { cause: err });
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  const ok = Array.isArray(order) && order.length === entries.length && new Set(order).size === order.length;
  if (!ok || !(order as unknown[]).every((n) => typeof n === 'string' && byName.has(n))) {
    throw new SafetensorsError(
      file,
      `${file}: __metadata__["${ORDER_KEY}"] lists ${orderJson.slice(0, 200)}; expected each of the ${entries.length} tensors once`,
    );
  }
  return (order as string[]).map((n) => byName.get(n)!);
}

/** Decodes a whole file held in memory. `file` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsContents {
  assertLittleEndianHost();
  const { entries, metadata, dataStart } = parseHeader(file, bytes, bytes.byteLength);
  checkLayout(file, entries, bytes.byteLength - dataStart);
  const ordered = orderEntries(file, entries, metadata);
  delete metadata[ORDER_KEY];
  const tensors = ordered.map((e) => {
    // Copied so the result is 4-byte aligned and independent of the file buffer.
    const data = new Float32Array(numel(e.shape));
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + e.dataOffsets[0], dataStart + e.dataOffsets[1]));
    return { name: e.name, shape: e.shape, data };
  });
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await readWholeFile(path), path);
}

/** Header only (names, shapes, metadata) without reading the data: for listings. */
export async function readSafetensorsHeader(
  path: string,
): Promise<{ entries: SafetensorsHeaderEntry[]; metadata: Record<string, string> }> {
  const fh = await openForRead(path);
  try {
    const { size } = await fh.stat();
    const prefix = Buffer.alloc(8);
    await fh.read(prefix, 0, Math.min(8, size), 0);
    const n = size >= 8 ? Number(prefix.readBigUInt64LE()) : 0;
    const buf = Buffer.alloc(8 + Math.min(n, Math.max(0, size - 8)));
    await fh.read(buf, 0, buf.length, 0);
    const { entries, metadata, dataStart } = parseHeader(path, buf, size);
    checkLayout(path, entries, size - dataStart);
    const ordered = orderEntries(path, entries, metadata);
    delete metadata[ORDER_KEY];
    return { entries: ordered, metadata };
  } finally {
    await fh.close();
  }
}

async function openForRead(path: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path, 'r');
  } catch (err) {
    throw new SafetensorsError(path, `${path}: cannot open: ${(err as Error).message}`, { cause: err });
  }
}

/** Whole file as bytes; a missing file is a SafetensorsError naming it. */
export async function readWholeFile(path: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (err) {
    throw new SafetensorsError(path, `${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
}
