// A ring of N ranks that all-reduces one fused float32 buffer per call (ring-plan.ts: reduce-scatter,
// then all-gather; ring-op.ts: one collective's state). One group is one membership generation:
// after any failure it is broken for good and the caller redoes the step with a new group of a
// newer generation (the scheduler's job).
//
// Per collective on rank r:
//   a) the call takes the next sequence number; chunks of it that arrived early (the left neighbour
//      may start one collective ahead) are applied first;
//   b) segment r goes right (reduce-scatter ring step 0); each chunk received from the left is
//      checked, reduced or copied, and forwarded at once (outbound-link.ts: credits, backpressure);
//   c) the call resolves when every expected chunk was received and every chunk sent was
//      serialized (the result buffer is then the caller's to change);
//   d) a timer bounds the whole collective; on expiry, a broken stream or a refused chunk the call
//      rejects with a CollectiveError naming the neighbour and the phase, a RingAbort naming the
//      same culprit goes to both neighbours (who fail with it and pass it on), and both streams close.
import { CollectiveRefusedError, type PeerError } from '../wire/errors.ts';
import type { RingChunk__Output } from '../wire/generated/gantry/v1/RingChunk.ts';
import type { RingFrame, RingFrame__Output } from '../wire/generated/gantry/v1/RingFrame.ts';
import type { RingAbort, RingAbort__Output } from '../wire/generated/gantry/v1/RingAbort.ts';
import { CollectiveConfigError, CollectiveError, type CollectiveErrorFields, type CollectiveFailure, type CollectivePhase } from './errors.ts';
import type { CollectiveEndpoint, InboundEdge, InboundSink } from './endpoint.ts';
import { OutboundLink, type LinkFailure } from './outbound-link.ts';
import { RingOp, type Outgoing, type RingReduce } from './ring-op.ts';
import { mod, RingPlan } from './ring-plan.ts';
import { resolveOptions, type AllReduceOptions, type RingGroupOptions } from './ring-options.ts';

interface Active {
  op: RingOp;
  resolve: (out: Float32Array) => void;
  reject: (err: CollectiveError) => void;
  timer: NodeJS.Timeout;
  endTimer?: (labels?: object) => void;
  bytesAtStart: number;
}

export class RingGroup implements InboundSink {
  readonly runId: string;
  readonly generation: number;
  readonly rank: number;
  readonly size: number;
  readonly chunkBytes: number;
  readonly maxChunksInFlight: number;
  private readonly addresses: readonly string[];
  private readonly timeouts: { connectMs: number; collectiveMs: number };
  private readonly outbound: OutboundLink | undefined;
  private inbound: InboundEdge | undefined;
  private connecting: Promise<void> | undefined;
  private nextSequence = 0;
  private active: Active | undefined;
  /** A call is between its start and its end (connecting or running). */
  private busy = false;
  /** Chunks of the next collective that arrived before this rank started it (at most the left's window). */
  private early: RingChunk__Output[] = [];
  /** Chunks from the left consumed since the last RingAck{consumed}. */
  private unacked = 0;
  private failure: CollectiveError | undefined;
  private closed = false;

  constructor(private readonly opts: RingGroupOptions) {
    const { runId, generation, rank, size, addresses, chunkBytes, window, connectMs, collectiveMs } = resolveOptions(opts);
    this.runId = runId;
    this.generation = generation;
    this.rank = rank;
    this.size = size;
    this.addresses = addresses;
    this.chunkBytes = chunkBytes;
    this.maxChunksInFlight = window;
    this.timeouts = { connectMs, collectiveMs };
    if (size > 1) {
      this.outbound = new OutboundLink(addresses[this.right], window, opts.client ?? {});
      this.outbound.onFailure = (f) => this.breakOn(this.linkError(f));
      this.outbound.onIdle = () => this.maybeFinish();
      this.outbound.onAbort = (a) => this.onAbort(a);
      opts.endpoint!.attach(this);
    }
  }

  get left(): number { return mod(this.rank - 1, this.size); }
  get right(): number { return mod(this.rank + 1, this.size); }

  /**
   * Opens the stream to the right neighbour; resolves when its group (same run and generation)
   * accepted it. Called by the first collective if not before. Rejects with CollectiveError
   * (phase 'connect') after timeouts.connectMs.
   */
  connect(): Promise<void> {
    if (!this.outbound) return Promise.resolve();
    this.connecting ??= this.openOutbound(this.outbound);
    return this.connecting;
  }

  /**
   * Elementwise sum over the ranks; every rank gets the same bits. Returns a new array and leaves
   * `buf` alone, or with { inPlace: true } reduces into `buf` and returns it (saves a copy and an
   * allocation of the buffer's size; `buf` must not be touched until the promise settles, and
   * holds garbage if it rejects).
   */
  allReduceSum(step: number, buf: Float32Array, opts: AllReduceOptions = {}): Promise<Float32Array> {
    return this.collective(step, buf, 'sum', opts.inPlace ?? false);
  }

  /** Elementwise mean (sum, then divided by N once, by the segment's owner); bit-identical on every rank. As allReduceSum. */
  allReduceMean(step: number, buf: Float32Array, opts: AllReduceOptions = {}): Promise<Float32Array> {
    return this.collective(step, buf, 'mean', opts.inPlace ?? false);
  }

  /**
   * All-gather: rank r's contribution is segment r of `buf`, values [floor(r L / N),
   * floor((r + 1) L / N)) (L = buf.length; equal blocks when N divides L); the call fills every
   * other segment with its owner's values, so every rank ends with the same bits. Nothing is
   * summed, and each rank sends (N - 1) / N of the buffer, half of an all-reduce's. Always in
   * place: returns `buf` (garbage outside segment r if it rejects).
   */
  allGather(step: number, buf: Float32Array): Promise<Float32Array> {
    return this.collective(step, buf, 'gather', true);
  }

  /** Fails a running collective (kind 'closed'), ends both streams and detaches from the endpoint. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(this.error({ kind: 'closed', phase: this.active?.op.phase ?? 'connect', detail: 'the group was closed' }));
    this.shutdownStreams();
  }

  /** endpoint.ts: the left neighbour's accepted stream. */
  adopt(edge: InboundEdge): void {
    if (this.inbound || this.closed || this.failure) {
      edge.fail(new CollectiveRefusedError('rank', 'hello.from_rank', 'one stream from the left neighbour per group', 'a second stream'));
      return;
    }
    this.inbound = edge;
    const { call } = edge;
    call.on('data', (frame: RingFrame__Output) => this.onFrame(frame));
    const gone = (detail: string) => (): void => {
      if (this.inbound === edge) this.breakOn(this.error({ kind: 'peer_gone', ...this.blame('left'), detail }));
    };
    call.once('end', gone('the left neighbour ended its stream (its group closed)'));
    call.once('cancelled', gone('the left neighbour\'s stream was cancelled (process gone or group failed)'));
    call.once('error', gone('the left neighbour\'s stream failed'));
  }

  private async collective(step: number, buf: Float32Array, reduce: RingReduce, inPlace: boolean): Promise<Float32Array> {
    if (!Number.isSafeInteger(step) || step < 0) throw new CollectiveConfigError('step', 'an integer >= 0', String(step));
    if (!(buf instanceof Float32Array)) throw new CollectiveConfigError('buf', 'a Float32Array', Object.prototype.toString.call(buf));
    if (this.busy) throw new CollectiveConfigError(reduce === 'gather' ? 'allGather' : 'allReduce', 'one collective at a time per group', 'a call still running');
    this.throwIfUnusable(step);
    if (this.size === 1) {
      this.nextSequence++;
      return inPlace ? buf : new Float32Array(buf); // x / 1 === x: the mean is the copy too; a gather of one is the buffer
    }
    this.busy = true;
    try {
      await this.connect();
      this.throwIfUnusable(step);
      return await this.run(step, buf, reduce, inPlace);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Starts the collective of the next sequence number. Synchronous up to the returned promise, so
   * that a chunk of this sequence is either early (taken here) or arrives after `active` is set.
   */
  private run(step: number, buf: Float32Array, reduce: RingReduce, inPlace: boolean): Promise<Float32Array> {
    const sequence = this.nextSequence++;
    const plan = new RingPlan(buf.length, this.size, this.chunkBytes / 4);
    const op = new RingOp(plan, this.rank, { runId: this.runId, generation: this.generation, step, sequence }, buf, reduce, inPlace);
    return new Promise<Float32Array>((resolve, reject) => {
      const timer = setTimeout(() => this.onTimeout(), this.timeouts.collectiveMs);
      this.active = {
        op, resolve, reject, timer,
        endTimer: this.opts.metrics?.collectiveDuration.startTimer({ op: opLabel(reduce) }),
        bytesAtStart: this.outbound!.bytesSent,
      };
      this.outbound!.send(op.start().map((o) => this.frame(op, o)));
      const early = this.early;
      this.early = [];
      for (const chunk of early) {
        if (!this.apply(chunk)) return;
      }
      this.maybeFinish();
    });
  }

  private throwIfUnusable(step: number): void {
    if (this.closed) throw this.error({ kind: 'closed', phase: 'connect', step, detail: 'the group is closed' });
    if (this.failure) {
      throw new CollectiveError({ ...this.fields(this.failure), kind: 'broken', step, sequence: undefined,
        detail: `an earlier collective failed (${this.failure.message}); redo the step in a new generation` }, { cause: this.failure });
    }
  }

  private async openOutbound(link: OutboundLink): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.error({ kind: 'timeout', phase: 'connect', peerRank: this.right, peer: link.address,
        detail: `the right neighbour did not accept the ring stream within ${this.timeouts.connectMs} ms` })), this.timeouts.connectMs);
    });
    try {
      await Promise.race([
        link.open({ runId: this.runId, generation: this.generation, fromRank: this.rank, size: this.size })
          .catch((f: LinkFailure) => { throw this.linkError(f, 'connect'); }),
        timeout,
      ]);
    } catch (err) {
      this.breakOn(err as CollectiveError);
      // The group may have failed first for another reason (a refused chunk from the left closes
      // the outbound stream too): the caller hears that first cause, not its echo on the right.
      throw this.failure ?? err;
    } finally {
      clearTimeout(timer);
    }
  }

  private onFrame(frame: RingFrame__Output): void {
    if (this.closed || this.failure) return;
    if (frame.abort) return this.onAbort(frame.abort);
    const chunk = frame.chunk;
    if (!chunk) {
      this.refuse(new CollectiveRefusedError('position', 'frame', 'a chunk (the hello comes once)', frame.frame ?? 'an empty frame'));
      return;
    }
    const id = chunk.id;
    if (!id) return this.refuse(new CollectiveRefusedError('sequence', 'chunk.id', 'a CollectiveId', 'none'));
    if (id.runId !== this.runId) return this.refuse(new CollectiveRefusedError('run', 'chunk.id.run_id', JSON.stringify(this.runId), JSON.stringify(id.runId)));
    if (id.generation !== this.generation) {
      return this.refuse(new CollectiveRefusedError('generation', 'chunk.id.generation', String(this.generation), String(id.generation)));
    }
    if (this.active && id.sequence === this.active.op.id.sequence) {
      this.apply(chunk);
      this.maybeFinish();
    } else if (id.sequence === this.nextSequence) {
      // The left neighbour started the next collective first; applied (and acknowledged) when this
      // rank starts it. The left's window bounds how many wait here.
      this.early.push(chunk);
    } else {
      const expected = this.active ? `${this.active.op.id.sequence} (running) or ${this.nextSequence}` : String(this.nextSequence);
      this.refuse(new CollectiveRefusedError('sequence', 'chunk.id.sequence', expected, String(id.sequence)));
    }
  }

  /** Applies one chunk of the active collective and acknowledges it; false when it was refused. */
  private apply(chunk: RingChunk__Output): boolean {
    const active = this.active!;
    let sends: Outgoing[];
    try {
      sends = active.op.receive(chunk);
    } catch (err) {
      if (err instanceof CollectiveRefusedError) {
        this.refuse(err);
        return false;
      }
      throw err;
    }
    // Credits go back once per event-loop turn, for every chunk consumed in it (one small message
    // instead of one per chunk when several arrived together).
    if (this.unacked++ === 0) setImmediate(() => this.returnCredits());
    if (sends.length) this.outbound!.send(sends.map((o) => this.frame(active.op, o)));
    return true;
  }

  private returnCredits(): void {
    const consumed = this.unacked;
    this.unacked = 0;
    if (!this.failure && !this.closed) this.inbound?.call.write({ consumed });
  }

  private frame(op: RingOp, o: Outgoing): () => RingFrame {
    const { plan, id, out } = op;
    return () => ({
      chunk: {
        id: { runId: id.runId, generation: id.generation, step: id.step, sequence: id.sequence },
        phase: o.phase, ringStep: o.ringStep, segment: o.segment, chunk: o.chunk,
        elements: plan.elements, chunkElements: plan.chunkElements,
        // A view: the bytes are copied when the frame is serialized, right after this runs.
        data: Buffer.from(out.buffer, out.byteOffset + o.start * 4, (o.end - o.start) * 4),
      },
    });
  }

  private maybeFinish(): void {
    const active = this.active;
    if (!active || !active.op.done || !this.outbound!.idle) return;
    this.active = undefined;
    clearTimeout(active.timer);
    active.endTimer?.();
    this.opts.metrics?.collectiveBytes.inc({ op: opLabel(active.op.reduce) }, this.outbound!.bytesSent - active.bytesAtStart);
    active.resolve(active.op.out);
  }

  private onTimeout(): void {
    const op = this.active?.op;
    if (!op) return;
    // Still receiving: the data from the left is late. All received: our chunks wait for the right's credits.
    const side = op.done ? 'right' : 'left';
    const detail = op.done
      ? `every chunk arrived but the right neighbour did not take ours within ${this.timeouts.collectiveMs} ms`
      : `the left neighbour's ${op.phase} chunks did not all arrive within ${this.timeouts.collectiveMs} ms`;
    this.breakOn(this.error({ kind: 'timeout', ...this.blame(side), detail }));
  }

  /** This rank refuses the left's chunk: never summed; the left's stream ends with the refusal. */
  private refuse(err: CollectiveRefusedError): void {
    const edge = this.inbound;
    this.inbound = undefined;
    edge?.fail(err);
    const fields = { kind: 'refused', refusal: err.field, ...this.blame('left'), detail: `refused a chunk from the left neighbour: ${err.message}` } as const;
    this.breakOn(this.error(fields, err));
  }

  private linkError(f: LinkFailure, phase?: CollectivePhase): CollectiveError {
    const at = { ...this.blame('right'), ...(phase ? { phase } : {}) };
    if (f.kind === 'ended') return this.error({ kind: 'peer_gone', ...at, detail: 'the right neighbour ended the ring stream (its group closed or failed)' });
    const e: PeerError = f.error;
    if (e.remoteName === 'CollectiveRefusedError') {
      return this.error({ kind: 'refused', ...at, refusal: e.field, detail: `the right neighbour refused our chunks: ${e.details}` }, e);
    }
    return this.error({ kind: 'peer_gone', ...at, detail: `the ring stream to the right neighbour failed: ${e.codeName}: ${e.details}` }, e);
  }

  /** A neighbour's group failed: fail with the culprit it names (the news then travels on). */
  private onAbort(a: RingAbort__Output): void {
    const kinds: CollectiveFailure[] = ['peer_gone', 'timeout', 'refused'];
    const kind = kinds.includes(a.kind as CollectiveFailure) ? (a.kind as CollectiveFailure) : 'peer_gone';
    const culprit = a.culpritRank < this.size ? a.culpritRank : undefined;
    this.breakOn(this.error({ kind, phase: this.active?.op.phase ?? 'connect', peerRank: culprit,
      peer: culprit === undefined ? undefined : this.addresses[culprit], reporterRank: a.reporterRank,
      detail: `rank ${a.reporterRank} gave up on the group: ${a.detail}` }));
  }

  private blame(side: 'left' | 'right'): { peerRank: number; peer: string; phase: CollectivePhase } {
    const peerRank = side === 'left' ? this.left : this.right;
    return { peerRank, peer: this.addresses[peerRank], phase: this.active?.op.phase ?? 'connect' };
  }

  /** Breaks the group for good: the running collective fails with `err`, both streams close. */
  private breakOn(err: CollectiveError): void {
    if (this.failure || this.closed) return;
    this.fail(err);
    this.shutdownStreams();
  }

  private fail(err: CollectiveError): void {
    this.failure ??= err;
    const active = this.active;
    this.active = undefined;
    this.early = [];
    if (!active) return;
    clearTimeout(active.timer);
    active.endTimer?.();
    active.reject(err);
  }

  private shutdownStreams(): void {
    const abort = this.abortMessage();
    this.outbound?.close(abort);
    const edge = this.inbound;
    this.inbound = undefined;
    // The abort, then a graceful end, tell the left neighbour at once that this group is gone.
    if (edge && !edge.call.cancelled) {
      edge.call.write({ abort });
      edge.call.end();
    }
    this.opts.endpoint?.detach(this);
  }

  /** What this rank tells its neighbours when the group fails or closes (proto RingAbort). */
  private abortMessage(): RingAbort {
    const f = this.failure;
    if (!f || f.kind === 'closed') {
      return { culpritRank: this.rank, kind: 'peer_gone', reporterRank: this.rank, detail: `rank ${this.rank} closed its group` };
    }
    return { culpritRank: f.peerRank ?? this.rank, kind: f.kind, reporterRank: f.reporterRank, detail: f.message };
  }

  private error(f: Omit<CollectiveErrorFields, 'rank' | 'generation'> & Partial<CollectiveErrorFields>, cause?: unknown): CollectiveError {
    const op = this.active?.op;
    return new CollectiveError({ rank: this.rank, generation: this.generation, step: op?.id.step, sequence: op?.id.sequence, ...f },
      cause === undefined ? undefined : { cause });
  }

  private fields(e: CollectiveError): CollectiveErrorFields {
    return { kind: e.kind, phase: e.phase, rank: e.rank, peerRank: e.peerRank, peer: e.peer, generation: e.generation,
      step: e.step, sequence: e.sequence, refusal: e.refusal, reporterRank: e.reporterRank, detail: e.message };
  }
}

/** The `op` label of the collective metrics (telemetry/collective-metrics.ts COLLECTIVE_OPS). */
function opLabel(reduce: RingReduce): 'allreduce' | 'all_gather' {
  return reduce === 'gather' ? 'all_gather' : 'allreduce';
}
