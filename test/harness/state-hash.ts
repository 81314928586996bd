// A digest of everything a request may change in a node: weights, batch-norm statistics, Adam
// slots, the optimizer step and the idempotency ledger (lastApplied). Tests take it before and
// after a rejected request: a rejected request changes nothing, so the digests must be equal.
import { createHash } from 'node:crypto';
import type { ModelSnapshot } from '../../services/run/model-snapshot.ts';

export interface HashableNode {
  snapshot(): ModelSnapshot;
}

/** sha256 over (name, shape, bytes) of every tensor and slot, the optimizer step and `ledger`. */
export function snapshotHash(s: ModelSnapshot, ledger: unknown): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ role: s.role, step: s.optimizer.step, ledger }));
  for (const t of [...s.tensors, ...s.optimizer.slots]) {
    h.update(`${t.name}[${t.shape.join(',')}]`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/** The state digest of a GeneratorNode or DiscriminatorNode (lastAppliedIteration / lastApplied included). */
export function stateHash(node: HashableNode & { lastAppliedIteration?: number; lastApplied?: unknown }): string {
  return snapshotHash(node.snapshot(), node.lastApplied ?? node.lastAppliedIteration);
}
