// The seam between tfjs models and checkpoints/wire: a model plus its optimizer <-> ModelSnapshot
// (plain Float32Arrays, services/run/model-snapshot.ts).
import { createHash } from 'node:crypto';
import type { Model } from './model.ts';
import { Adam, assignAll, checkAssignable } from './optim.ts';
import { SnapshotMismatchError } from './errors.ts';
import { clipText } from '../telemetry/clip.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { TensorEntry } from '../run/tensor-entry.ts';
import type { tf } from './tf.ts';

function entry(name: string, v: tf.Variable): TensorEntry {
  // dataSync returns the backend's buffer on some backends: copy so the snapshot owns its data.
  return { name, shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) };
}

export function snapshotModel(model: Model, optimizer: Adam): ModelSnapshot {
  return {
    role: model.role,
    arch: model.arch,
    tensors: [...model.params, ...model.state].map(({ name, variable }) => entry(name, variable)),
    optimizer: {
      kind: 'adam',
      step: optimizer.step,
      hyper: { ...optimizer.hyper },
      slots: optimizer.slotTensors().map(({ name, variable }) => entry(name, variable)),
    },
  };
}

/**
 * Loads weights (and, when given, optimizer state), all or nothing: every name, shape and value
 * of the whole snapshot (model tensors, optimizer slots, optimizer step) is checked before the
 * first variable is assigned, so a rejected snapshot leaves the model and the optimizer exactly
 * as they were. Throws SnapshotMismatchError naming the first problem.
 */
export function restoreModel(model: Model, optimizer: Adam | undefined, snap: ModelSnapshot): void {
  if (snap.role !== model.role) throw new SnapshotMismatchError(`snapshot is of a ${clipText(String(snap.role))}, not a ${model.role}`);
  const byName = new Map(snap.tensors.map((t) => [t.name, t]));
  const expected = [...model.params, ...model.state];
  const known = new Set(expected.map((e) => e.name));
  const extra = [...byName.keys()].filter((n) => !known.has(n));
  if (extra.length > 0 || byName.size !== snap.tensors.length) {
    const what = extra.length > 0 ? `tensors the model lacks: ${extra.slice(0, 3).map((n) => clipText(n)).join(', ')}` : 'a tensor name twice';
    throw new SnapshotMismatchError(`${model.role} snapshot has ${what}`);
  }
  const checked = expected.map(({ name, variable }) => {
    const found = byName.get(name);
    if (!found) throw new SnapshotMismatchError(`${model.role} tensor ${name} is missing from the snapshot`);
    return checkAssignable(`${model.role}/${name}`, variable, found);
  });
  if (new Set(snap.optimizer.slots.map((t) => t.name)).size !== snap.optimizer.slots.length) {
    throw new SnapshotMismatchError(`${model.role} snapshot has an optimizer slot name twice`);
  }
  const slots = optimizer?.checkSlots(snap.optimizer.step, new Map(snap.optimizer.slots.map((s) => [s.name, s]))) ?? [];
  // Everything above only reads; from here on nothing can fail for a reason the snapshot holds.
  assignAll([...checked, ...slots]);
  optimizer?.setStep(snap.optimizer.step);
}

/** sha256 of every tensor and Adam slot (names and bytes, in snapshot order) and Adam's step: two
 *  replicas that applied the same updates agree bit for bit. */
export function snapshotHash(s: ModelSnapshot): string {
  const h = createHash('sha256');
  for (const t of [...s.tensors, ...s.optimizer.slots]) {
    h.update(t.name);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  h.update(String(s.optimizer.step));
  return h.digest('hex');
}
