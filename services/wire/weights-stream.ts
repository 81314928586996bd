// ModelSnapshot <-> a stream of WeightsChunk messages (layout in proto/gantry/v1/weights.proto):
// one header-only chunk, then every tensor in snapshot order (model tensors, then optimizer
// slots) in slices of at most chunkBytes. The reader checks the layout as it goes and rebuilds
// each tensor into a fresh aligned Float32Array.
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import { checkSnapshot } from '../run/model-snapshot.ts';
import type { TensorEntry } from '../run/tensor-entry.ts';
import type { ModelRole } from '../run/manifest.ts';
import { SnapshotMismatchError } from '../core/errors.ts';
import type { WeightsChunk } from './generated/gantry/v1/WeightsChunk.ts';
import type { WeightsChunk__Output } from './generated/gantry/v1/WeightsChunk.ts';
import type { SnapshotHeader__Output } from './generated/gantry/v1/SnapshotHeader.ts';
import { RequestValidationError, TensorValidationError } from './errors.ts';
import { HOST_LITTLE_ENDIAN, littleEndianBytes } from './tensor-codec.ts';

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

function numel(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
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
  if (h.role !== role) throw new RequestValidationError(`${field}.role`, JSON.stringify(role), JSON.stringify(h.role));
  let arch: unknown;
  try {
    arch = JSON.parse(h.archJson);
  } catch {
    arch = undefined;
  }
  if (typeof arch !== 'object' || arch === null || Array.isArray(arch)) {
    throw new RequestValidationError(`${field}.arch_json`, 'a JSON object', JSON.stringify(h.archJson.slice(0, 80)));
  }
  if (h.optimizerKind !== 'adam') throw new RequestValidationError(`${field}.optimizer_kind`, '"adam"', JSON.stringify(h.optimizerKind));
  return {
    base: {
      role,
      arch: arch as Record<string, unknown>,
      optimizer: { kind: 'adam', step: Number(h.optimizerStep), hyper: { ...h.optimizerHyper }, slots: [] },
    },
    lastApplied: { iteration: Number(h.lastAppliedIteration), step: Number(h.lastAppliedStep) },
    modelTensorCount: h.modelTensorCount,
    slotCount: h.slotCount,
    totalBytes: Number(h.totalBytes),
  };
}

/** One tensor being reassembled from its slices. */
interface Pending { entry: TensorEntry; group: Group; bytes: Uint8Array; filled: number }

/** Reassembles tensors chunk by chunk, checking names, shapes, offsets and the byte budget. */
class SnapshotReader {
  private readonly done: { entry: TensorEntry; group: Group }[] = [];
  private cur: Pending | undefined;
  private allocated = 0;

  constructor(private readonly head: Header) {}

  add(c: WeightsChunk__Output, where: string): void {
    if (c.header) throw new RequestValidationError(`${where}.header`, 'a header in the first chunk only', 'a second header');
    if (!this.cur || c.tensorName !== this.cur.entry.name) {
      this.finish();
      this.cur = this.start(c, where);
    }
    const cur = this.cur;
    if (c.shape.map(Number).join(',') !== cur.entry.shape.join(',')) {
      throw new TensorValidationError(`${where}.shape`, `[${cur.entry.shape.join(', ')}] (as in the tensor's first chunk)`, `[${c.shape.join(', ')}]`);
    }
    if (Number(c.byteOffset) !== cur.filled) throw new RequestValidationError(`${where}.byte_offset`, String(cur.filled), String(c.byteOffset));
    if (cur.filled + c.data.length > cur.bytes.length) {
      throw new TensorValidationError(`${where}.data`, `at most ${cur.bytes.length - cur.filled} more bytes for "${cur.entry.name}"`,
        `${c.data.length} bytes`);
    }
    cur.bytes.set(c.data, cur.filled);
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
        `a MODEL tensor after slot "${done[firstSlot].entry.name}"`);
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
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new TensorValidationError(`${where}.shape`, 'non-negative integers', `[${shape.join(', ')}]`);
    }
    if (c.group !== 'MODEL' && c.group !== 'OPTIMIZER_SLOT') throw new RequestValidationError(`${where}.group`, 'MODEL or OPTIMIZER_SLOT', String(c.group));
    // The header's byte total bounds what a sender can make the receiver allocate.
    const bytes = numel(shape) * 4;
    if (this.allocated + bytes > this.head.totalBytes) {
      throw new TensorValidationError(`${where}.shape`, `at most ${this.head.totalBytes - this.allocated} more bytes (header.total_bytes)`,
        `[${shape.join(', ')}] (${bytes} bytes)`);
    }
    this.allocated += bytes;
    const data = new Float32Array(numel(shape));
    return { entry: { name: c.tensorName, shape, data }, group: c.group, bytes: new Uint8Array(data.buffer), filled: 0 };
  }

  private finish(): void {
    const p = this.cur;
    if (!p) return;
    this.cur = undefined;
    if (p.filled !== p.bytes.length) {
      throw new TensorValidationError(`weights["${p.entry.name}"].data`, `${p.bytes.length} bytes`, `${p.filled} bytes`);
    }
    if (!HOST_LITTLE_ENDIAN) Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength).swap32();
    const bad = p.entry.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new TensorValidationError(`weights["${p.entry.name}"].data`, 'finite values', `${p.entry.data[bad]} at index ${bad}`);
    this.done.push({ entry: p.entry, group: p.group });
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

/** The LoadWeights reply for a received snapshot: how many tensors and bytes it held. */
export function loadSummary(s: ModelSnapshot): { tensorCount: number; totalBytes: number } {
  const all = [...s.tensors, ...s.optimizer.slots];
  return { tensorCount: all.length, totalBytes: all.reduce((n, t) => n + t.data.byteLength, 0) };
}
