// One ring collective on one rank (an all-reduce, or a plain all-gather), as a state machine
// without I/O: start() gives the first chunks to send right, receive(chunk from the left) checks
// the chunk, reduces or copies it into the result and gives the chunks that became ready to
// forward (ring-plan.ts says which travel where).
// A chunk that is not exactly what the ring expects is refused before any value is touched.
import { CollectiveRefusedError } from '../wire/errors.ts';
import type { RingChunk__Output } from '../wire/generated/gantry/v1/RingChunk.ts';
import type { CollectivePhase } from './errors.ts';
import { RingPlan } from './ring-plan.ts';

export interface OpId {
  runId: string;
  generation: number;
  step: number;
  sequence: number;
}

/** A chunk to send right: values [start, end) of `out`. */
export interface Outgoing {
  phase: 'REDUCE_SCATTER' | 'ALL_GATHER';
  ringStep: number;
  segment: number;
  chunk: number;
  start: number;
  end: number;
}

/** What a collective computes: the element-wise sum, the sum divided by N, or a plain all-gather
 *  (rank r's segment r to every rank, nothing summed). */
export type RingReduce = 'sum' | 'mean' | 'gather';

const PHASE_NAMES: Record<string, 'REDUCE_SCATTER' | 'ALL_GATHER'> = { REDUCE_SCATTER: 'REDUCE_SCATTER', ALL_GATHER: 'ALL_GATHER', 0: 'REDUCE_SCATTER', 1: 'ALL_GATHER' };

export class RingOp {
  /** The result, (L,) float32: a copy of the input, or the input itself when inPlace. */
  readonly out: Float32Array;
  private readonly rsExpected: number;
  private readonly agExpected: number;
  private rsReceived = 0;
  private agReceived = 0;
  /** One flag per (phase, value index of a chunk start): a chunk is accepted once per phase. */
  private readonly seen: [Set<number>, Set<number>] = [new Set(), new Set()];
  /** Aligned staging for received bytes whose offset is not a multiple of 4. */
  private scratch = new Float32Array(0);

  constructor(
    readonly plan: RingPlan,
    readonly rank: number,
    readonly id: OpId,
    input: Float32Array,
    /** 'mean': divide by N at the owner (before the all-gather), so every rank gets the same
     *  quotient. 'gather': no reduce-scatter; `input` holds this rank's segment (segment r). */
    readonly reduce: RingReduce,
    /** Reduce into `input` itself (no 4L-byte copy, no allocation). */
    inPlace = false,
  ) {
    this.out = inPlace ? input : new Float32Array(input);
    this.rsExpected = reduce === 'gather' ? 0 : plan.receives(rank, 'REDUCE_SCATTER');
    this.agExpected = plan.receives(rank, reduce === 'gather' ? 'GATHER' : 'ALL_GATHER');
  }

  get done(): boolean {
    return this.rsReceived === this.rsExpected && this.agReceived === this.agExpected;
  }

  /** The phase this rank is still receiving for. */
  get phase(): CollectivePhase {
    return this.rsReceived < this.rsExpected ? 'reduce_scatter' : 'all_gather';
  }

  /** Ring step 0: this rank's own segment, straight from the input (reduce-scatter, or the
   *  all-gather of a plain gather). */
  start(): Outgoing[] {
    if (this.plan.size === 1) return [];
    if (this.reduce === 'gather') return this.chunksOf(this.plan.gatherSend(this.rank, 0), 'ALL_GATHER', 0);
    return this.chunksOf(this.plan.rsSend(this.rank, 0), 'REDUCE_SCATTER', 0);
  }

  /** Throws CollectiveRefusedError for a chunk of another collective, position or layout. */
  check(c: RingChunk__Output): void {
    const { id } = this;
    if (!c.id) throw new CollectiveRefusedError('sequence', 'chunk.id', 'a CollectiveId', 'none');
    if (c.id.runId !== id.runId) throw new CollectiveRefusedError('run', 'chunk.id.run_id', JSON.stringify(id.runId), JSON.stringify(c.id.runId));
    if (c.id.generation !== id.generation) throw new CollectiveRefusedError('generation', 'chunk.id.generation', String(id.generation), String(c.id.generation));
    if (c.id.sequence !== id.sequence) throw new CollectiveRefusedError('sequence', 'chunk.id.sequence', String(id.sequence), String(c.id.sequence));
    if (c.id.step !== id.step) throw new CollectiveRefusedError('step', 'chunk.id.step', String(id.step), String(c.id.step));
    const { plan } = this;
    if (c.elements !== plan.elements) throw new CollectiveRefusedError('layout', 'chunk.elements', String(plan.elements), String(c.elements));
    if (c.chunkElements !== plan.chunkElements) {
      throw new CollectiveRefusedError('layout', 'chunk.chunk_elements', String(plan.chunkElements), String(c.chunkElements));
    }
    const phase = PHASE_NAMES[c.phase];
    if (!phase) throw new CollectiveRefusedError('position', 'chunk.phase', 'REDUCE_SCATTER or ALL_GATHER', String(c.phase));
    if (phase === 'REDUCE_SCATTER' && this.reduce === 'gather') {
      throw new CollectiveRefusedError('position', 'chunk.phase', 'ALL_GATHER (this collective is an all-gather)', phase);
    }
    if (c.ringStep > plan.size - 2) throw new CollectiveRefusedError('position', 'chunk.ring_step', `0..${plan.size - 2}`, String(c.ringStep));
    const want = phase === 'REDUCE_SCATTER' ? plan.rsRecv(this.rank, c.ringStep)
      : this.reduce === 'gather' ? plan.gatherRecv(this.rank, c.ringStep) : plan.agRecv(this.rank, c.ringStep);
    if (c.segment !== want) {
      throw new CollectiveRefusedError('position', 'chunk.segment', `${want} (${phase} ring step ${c.ringStep} on rank ${this.rank})`, String(c.segment));
    }
    const count = plan.chunkCount(c.segment);
    if (c.chunk >= count) throw new CollectiveRefusedError('position', 'chunk.chunk', `0..${count - 1}`, String(c.chunk));
    const [start, end] = plan.chunkRange(c.segment, c.chunk);
    if (this.seen[phase === 'REDUCE_SCATTER' ? 0 : 1].has(start)) {
      throw new CollectiveRefusedError('position', 'chunk.chunk', `a chunk not yet received in ${phase}`, `chunk ${c.chunk} of segment ${c.segment} again`);
    }
    if (c.data.length !== (end - start) * 4) {
      throw new CollectiveRefusedError('layout', 'chunk.data', `${(end - start) * 4} bytes`, `${c.data.length} bytes`);
    }
  }

  /** Applies a chunk from the left (check() first) and returns what is now ready to send right. */
  receive(c: RingChunk__Output): Outgoing[] {
    this.check(c);
    const phase = PHASE_NAMES[c.phase];
    const [start, end] = this.plan.chunkRange(c.segment, c.chunk);
    const values = this.view(c.data, end - start);
    const out = this.out;
    const last = this.plan.size - 2;
    if (phase === 'REDUCE_SCATTER') {
      this.seen[0].add(start);
      this.rsReceived++;
      if (c.ringStep < last) {
        addInto(out, start, end, values);
        return [{ phase, ringStep: c.ringStep + 1, segment: c.segment, chunk: c.chunk, start, end }];
      }
      // The owned segment is complete: the mean is taken once, here, and copied everywhere.
      if (this.reduce === 'mean') addDivideInto(out, start, end, values, this.plan.size);
      else addInto(out, start, end, values);
      return [{ phase: 'ALL_GATHER', ringStep: 0, segment: c.segment, chunk: c.chunk, start, end }];
    }
    this.seen[1].add(start);
    this.agReceived++;
    out.set(values, start);
    if (c.ringStep < last) return [{ phase, ringStep: c.ringStep + 1, segment: c.segment, chunk: c.chunk, start, end }];
    return [];
  }

  private chunksOf(s: number, phase: Outgoing['phase'], ringStep: number): Outgoing[] {
    const sends: Outgoing[] = [];
    for (let c = 0; c < this.plan.chunkCount(s); c++) {
      const [start, end] = this.plan.chunkRange(s, c);
      sends.push({ phase, ringStep, segment: s, chunk: c, start, end });
    }
    return sends;
  }

  /** The received bytes as n float32 values (a view when aligned, else a copy into scratch). */
  private view(data: Buffer, n: number): Float32Array {
    if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, n);
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    new Uint8Array(this.scratch.buffer, 0, n * 4).set(data);
    return this.scratch.subarray(0, n);
  }
}

// The reductions, as small monomorphic loops. out[start..end) and values[0..end-start) are float32;
// every sum is the partial sum from the left plus this rank's value, the order the ring fixes, and
// each result is rounded to float32 when stored.
function addInto(out: Float32Array, start: number, end: number, values: Float32Array): void {
  for (let i = 0, j = start; j < end; i++, j++) out[j] = values[i] + out[j];
}

/** (sum rounded to float32) / n, rounded again: bit for bit what storing the sum, then dividing it, gives. */
function addDivideInto(out: Float32Array, start: number, end: number, values: Float32Array, n: number): void {
  for (let i = 0, j = start; j < end; i++, j++) out[j] = Math.fround(values[i] + out[j]) / n;
}
