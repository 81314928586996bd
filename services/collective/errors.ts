// Errors of the collectives. A failed collective always rejects with a CollectiveError that names
// this rank, the peer that is slow, gone or refusing, and the phase, so the caller can redo the
// step in a new generation. A refused message on the wire is a CollectiveRefusedError
// (services/wire/errors.ts, mapped to FAILED_PRECONDITION at the gRPC edge).

export type CollectivePhase = 'connect' | 'reduce_scatter' | 'all_gather';

/**
 * Why a collective failed:
 * - timeout: the deadline passed while waiting on `peerRank` (data from the left, credits from the right)
 * - peer_gone: the stream to or from `peerRank` broke or ended (process died, group closed)
 * - refused: a message was refused (this rank refused the left's, or the right refused ours); `refusal` says why
 * - closed: close() was called on this group while the collective ran, or before it started
 * - broken: an earlier collective of this group failed; make a new group (a new generation)
 */
export type CollectiveFailure = 'timeout' | 'peer_gone' | 'refused' | 'closed' | 'broken';

export interface CollectiveErrorFields {
  kind: CollectiveFailure;
  phase: CollectivePhase;
  /** This rank. */
  rank: number;
  /** The neighbour the failure is blamed on (left or right); undefined for 'closed'. */
  peerRank?: number;
  /** That neighbour's address. */
  peer?: string;
  generation: number;
  /** The step and sequence of the failed collective; undefined while connecting. */
  step?: number;
  sequence?: number;
  /** For 'refused': the refused message field, e.g. "chunk.id.step" or "hello.generation". */
  refusal?: string;
  /** The rank that saw the failure first (this rank, or the one whose RingAbort reached it). */
  reporterRank?: number;
  detail: string;
}

export class CollectiveError extends Error {
  override readonly name = 'CollectiveError';
  readonly kind: CollectiveFailure;
  readonly phase: CollectivePhase;
  readonly rank: number;
  readonly peerRank: number | undefined;
  readonly peer: string | undefined;
  readonly generation: number;
  readonly step: number | undefined;
  readonly sequence: number | undefined;
  readonly refusal: string | undefined;
  readonly reporterRank: number;

  constructor(fields: CollectiveErrorFields, options?: { cause?: unknown }) {
    const who = fields.peerRank === undefined ? '' : ` (peer rank ${fields.peerRank}${fields.peer ? ` at ${fields.peer}` : ''})`;
    const at = fields.step === undefined ? '' : ` step ${fields.step} sequence ${fields.sequence}`;
    super(`collective ${fields.kind} on rank ${fields.rank}${who}, generation ${fields.generation}${at}, ` +
      `phase ${fields.phase}: ${fields.detail}`, options);
    this.kind = fields.kind;
    this.phase = fields.phase;
    this.rank = fields.rank;
    this.peerRank = fields.peerRank;
    this.peer = fields.peer;
    this.generation = fields.generation;
    this.step = fields.step;
    this.sequence = fields.sequence;
    this.refusal = fields.refusal;
    this.reporterRank = fields.reporterRank ?? fields.rank;
  }
}

/** A RingGroup option or call argument is out of range. `field` names it, `bound` says what is allowed. */
export class CollectiveConfigError extends RangeError {
  override readonly name = 'CollectiveConfigError';
  constructor(
    readonly field: string,
    readonly bound: string,
    readonly found: string,
  ) {
    super(`${field}: expected ${bound}, found ${found}`);
  }
}
