// A hand-written protobuf codec for the requests of CollectiveService/Ring (RingFrame). The chunk
// frames carry every byte of a ring all-reduce (1 MiB of float32 values each by default), so
// their encoding is on the collectives' hot path; hellos and aborts go through protobufjs as
// before.
//
// The bytes on the wire are plain protobuf (proto/gantry/v1/collective.proto), what any protobuf
// library writes and reads; this codec only chooses the layout of a chunk frame:
//   0x12 len                      RingFrame.chunk (field 2)
//     0x0a len CollectiveId       id: run_id (1), generation (2), step (3), sequence (4)
//     0x10 .. 0x38 varints        phase, ring_step, segment, chunk, elements, chunk_elements (2..7)
//     0x4a len 0..6 zero bytes    pad (field 9), sized so that ...
//     0x42 len float32 LE         ... data (field 8) starts at a message offset = 3 (mod 4).
// gRPC frames a message behind 5 bytes (flag, length) and grpc-js hands the deserializer a view
// at offset 5 of a buffer it allocated, so the payload lands 4-byte aligned and the receiver
// reads it through a Float32Array view instead of copying it (services/collective/ring-op.ts
// copies when a sender did not align; both are correct).
//
// Decoding reads a chunk frame's fields directly and returns `data` as a view of the received
// buffer (no copy). Anything else, and any chunk frame this fast path does not take exactly as
// protobufjs would (an unknown or repeated field, a varint out of the fast path's range, a frame
// other than one chunk), is decoded by protobufjs, which also throws for malformed bytes.
import type { RingFrame, RingFrame__Output } from './generated/gantry/v1/RingFrame.ts';
import type { RingChunk__Output } from './generated/gantry/v1/RingChunk.ts';
import type { CollectiveId__Output } from './generated/gantry/v1/CollectiveId.ts';

export interface RingFrameCodec {
  serialize: (frame: RingFrame) => Buffer;
  deserialize: (buf: Buffer) => RingFrame__Output;
}

const PHASES: Record<string | number, number | undefined> = { REDUCE_SCATTER: 0, ALL_GATHER: 1, 0: 0, 1: 1 };
const PHASE_NAMES = ['REDUCE_SCATTER', 'ALL_GATHER'] as const;
const EMPTY = Buffer.alloc(0);
const U32 = 0xffffffff;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

const isU53 = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The codec of Ring requests; `fallback` is protobufjs' (proto-loader's) for everything but chunk frames. */
export function ringFrameCodec(fallback: RingFrameCodec): RingFrameCodec {
  return {
    serialize: (frame) => encodeChunkFrame(frame) ?? fallback.serialize(frame),
    deserialize: (buf) => decodeChunkFrame(buf) ?? fallback.deserialize(buf),
  };
}

/** A frame holding one chunk (numbers as JS numbers, data as bytes) in the aligned layout; undefined for any other frame. */
export function encodeChunkFrame(frame: RingFrame): Buffer | undefined {
  const c = frame.chunk;
  if (!c || frame.hello || frame.abort) return undefined;
  const id = c.id;
  const phase = PHASES[c.phase ?? 0];
  const data = c.data ?? EMPTY;
  const scalars = [phase, c.ringStep ?? 0, c.segment ?? 0, c.chunk ?? 0, c.elements ?? 0, c.chunkElements ?? 0];
  const ids = id ? [id.generation ?? 0, id.step ?? 0, id.sequence ?? 0] : [];
  // Anything protobufjs would coerce (strings, Longs, enum names it does not know, uint32 overflow) goes to protobufjs.
  if (!(data instanceof Uint8Array) || !scalars.every(isU53) || !ids.every(isU53) || (id && typeof (id.runId ?? '') !== 'string')) return undefined;
  if (scalars.some((v, i) => i !== 4 && (v as number) > U32)) return undefined;
  const runId = id?.runId ?? '';
  const runBytes = Buffer.byteLength(runId);
  const [gen, step, seq] = ids as number[];
  const idLen = id ? 1 + varintSize(runBytes) + runBytes + 3 + varintSize(gen) + varintSize(step) + varintSize(seq) : 0;
  let head = id ? 1 + varintSize(idLen) + idLen : 0;
  for (const v of scalars as number[]) head += 1 + varintSize(v);
  const dataField = 1 + varintSize(data.length);
  // Pick the pad (none, or 0..6 bytes) that puts the payload at message offset 3 mod 4; the frame's
  // own length prefix grows with the pad, hence the search.
  let pad = -1;
  let body = 0;
  for (let k = -1; k <= 6; k++) {
    const padField = k < 0 ? 0 : 2 + k;
    body = head + padField + dataField + data.length;
    if ((1 + varintSize(body) + head + padField + dataField) % 4 === 3) {
      pad = k;
      break;
    }
  }
  const buf = Buffer.allocUnsafe(1 + varintSize(body) + body);
  let p = 0;
  buf[p++] = 0x12;
  p = writeVarint(buf, p, body);
  if (id) {
    buf[p++] = 0x0a;
    p = writeVarint(buf, p, idLen);
    buf[p++] = 0x0a;
    p = writeVarint(buf, p, runBytes);
    p += buf.write(runId, p, 'utf8');
    buf[p++] = 0x10;
    p = writeVarint(buf, p, gen);
    buf[p++] = 0x18;
    p = writeVarint(buf, p, step);
    buf[p++] = 0x20;
    p = writeVarint(buf, p, seq);
  }
  for (let f = 0; f < scalars.length; f++) {
    buf[p++] = (f + 2) << 3;
    p = writeVarint(buf, p, scalars[f] as number);
  }
  if (pad >= 0) {
    buf[p++] = 0x4a;
    buf[p++] = pad;
    buf.fill(0, p, p + pad);
    p += pad;
  }
  buf[p++] = 0x42;
  p = writeVarint(buf, p, data.length);
  buf.set(data, p);
  return buf;
}

/** Reads a varint at `r.pos`; undefined past `end`, beyond 10 bytes or above 2^53. */
function readVarint(buf: Buffer, r: { pos: number }, end: number): number | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10 && r.pos < end; i++) {
    const b = buf[r.pos++];
    value += (b & 127) * scale;
    if (b < 128) return value <= Number.MAX_SAFE_INTEGER ? value : undefined;
    scale *= 128;
  }
  return undefined;
}

/** The length of a length-delimited field at `r.pos`, when it fits before `end`. */
function readLength(buf: Buffer, r: { pos: number }, end: number): number | undefined {
  const n = readVarint(buf, r, end);
  return n !== undefined && r.pos + n <= end ? n : undefined;
}

/** RingFrame{chunk} read field by field, `data` a view of `buf`; undefined where protobufjs must decide. */
export function decodeChunkFrame(buf: Buffer): RingFrame__Output | undefined {
  if (buf[0] !== 0x12) return undefined;
  const r = { pos: 1 };
  const len = readLength(buf, r, buf.length);
  if (len === undefined || r.pos + len !== buf.length) return undefined;
  const chunk = decodeChunk(buf, r, buf.length);
  return chunk && { chunk, frame: 'chunk' };
}

function decodeChunk(buf: Buffer, r: { pos: number }, end: number): RingChunk__Output | undefined {
  const out: RingChunk__Output = { id: null, phase: 'REDUCE_SCATTER', ringStep: 0, segment: 0, chunk: 0, elements: 0, chunkElements: 0,
    data: EMPTY, pad: EMPTY };
  let seen = 0;
  while (r.pos < end) {
    const tag = buf[r.pos++];
    const field = tag >> 3;
    if (tag >= 128 || seen & (1 << field)) return undefined; // a field number above 15 or a repeat
    seen |= 1 << field;
    if ((tag & 7) === 2) {
      const n = readLength(buf, r, end);
      if (n === undefined) return undefined;
      const start = r.pos;
      r.pos += n;
      if (field === 1) {
        const id = decodeId(buf, { pos: start }, start + n);
        if (!id) return undefined;
        out.id = id;
      } else if (field === 8) out.data = buf.subarray(start, start + n);
      else if (field === 9) out.pad = buf.subarray(start, start + n);
      else return undefined;
    } else if ((tag & 7) === 0 && field >= 2 && field <= 7) {
      const v = readVarint(buf, r, end);
      if (v === undefined || (field !== 6 && v > U32)) return undefined;
      if (field === 2) out.phase = PHASE_NAMES[v] ?? (v as unknown as RingChunk__Output['phase']);
      else if (field === 3) out.ringStep = v;
      else if (field === 4) out.segment = v;
      else if (field === 5) out.chunk = v;
      else if (field === 6) out.elements = v;
      else out.chunkElements = v;
    } else return undefined;
  }
  return out;
}

function decodeId(buf: Buffer, r: { pos: number }, end: number): CollectiveId__Output | undefined {
  const id: CollectiveId__Output = { runId: '', generation: 0, step: 0, sequence: 0 };
  let seen = 0;
  while (r.pos < end) {
    const tag = buf[r.pos++];
    const field = tag >> 3;
    if (tag >= 128 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    if (tag === 0x0a) {
      const n = readLength(buf, r, end);
      if (n === undefined) return undefined;
      id.runId = buf.toString('utf8', r.pos, r.pos + n);
      r.pos += n;
    } else if ((tag & 7) === 0 && field >= 2 && field <= 4) {
      const v = readVarint(buf, r, end);
      if (v === undefined) return undefined;
      if (field === 2) id.generation = v;
      else if (field === 3) id.step = v;
      else id.sequence = v;
    } else return undefined;
  }
  return id;
}
