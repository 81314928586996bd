// ModelSnapshot <-> a stream of WeightsChunk messages (layout in proto/gantry/v1/weights.proto):
// one header-only chunk, then every tensor in snapshot order (model tensors, then optimizer
// slots) in slices of at most chunkBytes. The reader checks the layout as it goes and rebuilds
// each tensor into a fresh aligned Float32Array. It allocates only for bytes that have arrived (a
// header or shape promising gigabytes costs the receiver nothing until the sender sends them),
// bounds every shape (tensor-codec.ts MAX_TENSOR_ELEMENTS) and clips every name it echoes in an error.
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import { checkSnapshot } from '../run/model-snapshot.ts';
import type { TensorEntry } from '../run/tensor-entry.ts';
import type { ModelRole } from '../run/manifest.ts';
import { SnapshotMismatchError } from '../core/errors.ts';
import { clipText } from '../telemetry/clip.ts';
import type { WeightsChunk } from './generated/gantry/v1/WeightsChunk.ts';
import type { WeightsChunk__Output } from './generated/gantry/v1/WeightsChunk.ts';
import type { SnapshotHeader__Output } from './generated/gantry/v1/SnapshotHeader.ts';
import { RequestValidationError, TensorValidationError } from './errors.ts';
import { checkShapeBound, formatShape, HOST_LITTLE_ENDIAN, littleEndianBytes } from './tensor-codec.ts';

export const WEIGHTS_CHUNK_BYTES = 1 << 20;

/** A snapshot plus the progress it includes (the idempotency state of the node it came from). */
export interface WeightsState {
  snapshot: ModelSnapshot;
  /** Last applied (iteration, step); -1 for none. Generators use step -1. */
  lastApplied: { iteration: number; step: number };
}

type Group = 'MODEL' | 'OPTIMIZER_SLOT';

export function* snapshotToChunks(state: WeightsState, chunkBytes = WEIGHTS_CHUNK_BYTES): Generator<WeightsChunk> {
  if (chunkBytes < 4 || chunkBytes % 4 !== 0) throw new RangeError(`chunkBytes must be a positive multiple of 4, got ${chunkBytes}`);
  const { snapshot: s, lastApplied } = state;
  const all = [...s.tensors, ...s.optimizer.slots];
  yield {
    header: {
      role: s.role, archJson: JSON.stringify(s.arch), optimizerKind: s.optimizer.kind, optimizerStep: s.optimizer.step,
      optimizerHyper: { ...s.optimizer.hyper }, lastAppliedIteration: lastApplied.iteration, lastAppliedStep: lastApplied.step,
      modelTensorCount: s.tensors.length, slotCount: s.optimizer.slots.length,
      totalBytes: all.reduce((n, t) => n + t.data.byteLength, 0),
    },
  };
  for (const [i, t] of all.entries()) {
    const group: Group = i < s.tensors.length ? 'MODEL' : 'OPTIMIZER_SLOT';
    const bytes = littleEndianBytes(t.data);
    let offset = 0;
    do {
      const end = Math.min(offset + chunkBytes, bytes.length);
      yield { tensorName: t.name, group, shape: [...t.shape], byteOffset: offset, data: bytes.subarray(offset, end) };
      offset = end;
    } while (offset < bytes.length);
  }
}

interface Header {
  base: Omit<ModelSnapshot, 'tensors'>;
  lastApplied: WeightsState['lastApplied'];
  modelTensorCount: number;
  slotCount: number;
  totalBytes: number;
}

function parseHeader(h: SnapshotHeader__Output, role: ModelRole): Header {
  const field = 'chunk[0].header';
  if (h.role !== role) throw new RequestValidationError(`${field}.role`, JSON.stringify(role), JSON.stringify(clipText(h.role)));
  let arch: unknown;
  try {
    arch = JSON.parse(h.archJson);
  } catch {
    arch = undefined;
  }
  if (typeof arch !== 'object' || arch === null || Array.isArray(arch)) {
    throw new RequestValidationError(`${field}.arch_json`, 'a JSON object', JSON.stringify(h.archJson.slice(0, 80)));
  }
  if (h.optimizerKind !== 'adam') throw new RequestValidationError(`${field}.optimizer_kind`, '"adam"', JSON.stringify(clipText(h.optimizerKind)));
  const lastIteration = Number(h.lastAppliedIteration);
  const lastStep = Number(h.lastAppliedStep);
  if (!Number.isSafeInteger(lastIteration) || lastIteration < -1) {
    throw new RequestValidationError(`${field}.last_applied_iteration`, 'an integer >= -1', String(h.lastAppliedIteration));
  }
  if (!Number.isSafeInteger(lastStep) || lastStep < -1) throw new RequestValidationError(`${field}.last_applied_step`, 'an integer >= -1', String(h.lastAppliedStep));
  const totalBytes = Number(h.totalBytes);
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) throw new RequestValidationError(`${field}.total_bytes`, 'a non-negative integer below 2^53', String(h.totalBytes));
  return {
    base: {
      role,
      arch: arch as Record<string, unknown>,
      optimizer: { kind: 'adam', step: Number(h.optimizerStep), hyper: { ...h.optimizerHyper }, slots: [] },
    },
    lastApplied: { iteration: lastIteration, step: lastStep },
    modelTensorCount: h.modelTensorCount,
    slotCount: h.slotCount,
    totalBytes,
  };
}

/** One tensor being reassembled from its slices: `size` bytes expected, `parts` received so far. */
interface Pending { name: string; shape: number[]; group: Group; size: number; parts: Uint8Array[]; filled: number }

/** Reassembles tensors chunk by chunk, checking names, shapes, offsets and the byte budget. */
class SnapshotReader {
  private readonly done: { entry: TensorEntry; group: Group }[] = [];
  private cur: Pending | undefined;
  private allocated = 0;

  constructor(private readonly head: Header) {}

  add(c: WeightsChunk__Output, where: string): void {
    if (c.header) throw new RequestValidationError(`${where}.header`, 'a header in the first chunk only', 'a second header');
    if (!this.cur || c.tensorName !== this.cur.name) {
      this.finish();
      this.cur = this.start(c, where);
    }
    const cur = this.cur;
    if (c.shape.map(Number).join(',') !== cur.shape.join(',')) {
      throw new TensorValidationError(`${where}.shape`, `${formatShape(cur.shape)} (as in the tensor's first chunk)`, formatShape(c.shape.map(Number)));
    }
    if (c.group !== cur.group) throw new RequestValidationError(`${where}.group`, `${cur.group} (as in the tensor's first chunk)`, String(c.group));
    if (Number(c.byteOffset) !== cur.filled) throw new RequestValidationError(`${where}.byte_offset`, String(cur.filled), String(c.byteOffset));
    if (cur.filled + c.data.length > cur.size) {
      throw new TensorValidationError(`${where}.data`, `at most ${cur.size - cur.filled} more bytes for "${clipText(cur.name)}"`,
        `${c.data.length} bytes`);
    }
    if (c.data.length > 0) cur.parts.push(c.data);
    cur.filled += c.data.length;
  }

  result(): WeightsState {
    this.finish();
    const { head, done } = this;
    const tensors = done.filter((d) => d.group === 'MODEL').map((d) => d.entry);
    const slots = done.filter((d) => d.group === 'OPTIMIZER_SLOT').map((d) => d.entry);
    const firstSlot = done.findIndex((d) => d.group === 'OPTIMIZER_SLOT');
    if (firstSlot >= 0 && firstSlot < tensors.length) {
      throw new RequestValidationError('weights', 'all MODEL tensors before the OPTIMIZER_SLOT tensors',
        `a MODEL tensor after slot "${clipText(done[firstSlot].entry.name)}"`);
    }
    if (tensors.length !== head.modelTensorCount || slots.length !== head.slotCount) {
      throw new RequestValidationError('weights', `${head.modelTensorCount} model tensors and ${head.slotCount} slots (as the header says)`,
        `${tensors.length} and ${slots.length}`);
    }
    if (this.allocated !== head.totalBytes) {
      throw new RequestValidationError('weights', `${head.totalBytes} bytes (header.total_bytes)`, `${this.allocated} bytes`);
    }
    const snapshot: ModelSnapshot = { ...head.base, tensors, optimizer: { ...head.base.optimizer, slots } };
    const problem = checkSnapshot(snapshot);
    if (problem) throw new SnapshotMismatchError(problem);
    return { snapshot, lastApplied: head.lastApplied };
  }

  private start(c: WeightsChunk__Output, where: string): Pending {
    const shape = c.shape.map(Number);
    if (!c.tensorName) throw new RequestValidationError(`${where}.tensor_name`, 'a tensor name', 'an empty string');
    // A shape such as [2^40] is refused here, by its bound, before anything is allocated.
    const n = checkShapeBound(`${where}.shape`, shape);
    if (c.group !== 'MODEL' && c.group !== 'OPTIMIZER_SLOT') throw new RequestValidationError(`${where}.group`, 'MODEL or OPTIMIZER_SLOT', String(c.group));
    // The header's byte total bounds the whole snapshot.
    const bytes = n * 4;
    if (this.allocated + bytes > this.head.totalBytes) {
      throw new TensorValidationError(`${where}.shape`, `at most ${this.head.totalBytes - this.allocated} more bytes (header.total_bytes)`,
        `${formatShape(shape)} (${bytes} bytes)`);
    }
    this.allocated += bytes;
    return { name: c.tensorName, shape, group: c.group, size: bytes, parts: [], filled: 0 };
  }

  private finish(): void {
    const p = this.cur;
    if (!p) return;
    this.cur = undefined;
    const label = `weights["${clipText(p.name)}"].data`;
    if (p.filled !== p.size) throw new TensorValidationError(label, `${p.size} bytes`, `${p.filled} bytes`);
    // Every byte has arrived: only now is the tensor allocated (fresh, aligned) and filled.
    const data = new Float32Array(p.size / 4);
    const bytes = new Uint8Array(data.buffer);
    let at = 0;
    for (const part of p.parts) {
      bytes.set(part, at);
      at += part.length;
    }
    if (!HOST_LITTLE_ENDIAN) Buffer.from(data.buffer).swap32();
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new TensorValidationError(label, 'finite values', `${data[bad]} at index ${bad}`);
    this.done.push({ entry: { name: p.name, shape: p.shape, data }, group: p.group });
  }
}

/** Rebuilds a snapshot of `role` from its chunks; every layout or content problem names the chunk or tensor. */
export async function chunksToSnapshot(
  chunks: AsyncIterable<WeightsChunk__Output> | Iterable<WeightsChunk__Output>,
  role: ModelRole,
): Promise<WeightsState> {
  let reader: SnapshotReader | undefined;
  let index = 0;
  for await (const c of chunks) {
    const where = `chunk[${index++}]`;
    if (reader) reader.add(c, where);
    else if (c.header) reader = new SnapshotReader(parseHeader(c.header, role));
    else throw new RequestValidationError(`${where}.header`, 'a SnapshotHeader in the first chunk', 'none');
  }
  if (!reader) throw new RequestValidationError('chunk[0]', 'a header chunk', 'an empty stream');
  return reader.result();
}

/** JSON with object keys sorted, so two descriptions of one architecture compare equal. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * A received snapshot must describe the receiving model's architecture: tensors that happen to
 * fit another architecture's names and shapes are still another model. Throws SnapshotMismatchError.
 */
export function checkSameArch(model: { arch: unknown }, s: ModelSnapshot): void {
  const [want, got] = [canonicalJson(model.arch), canonicalJson(s.arch)];
  if (want !== got) throw new SnapshotMismatchError(`chunk[0].header.arch_json: expected ${clipText(want, 200)}, found ${clipText(got, 200)}`);
}

/** The LoadWeights reply for a received snapshot: how many tensors and bytes it held. */
export function loadSummary(s: ModelSnapshot): { tensorCount: number; totalBytes: number } {
  const all = [...s.tensors, ...s.optimizer.slots];
  return { tensorCount: all.length, totalBytes: all.reduce((n, t) => n + t.data.byteLength, 0) };
}
