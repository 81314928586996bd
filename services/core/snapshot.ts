// The seam between tfjs models and checkpoints/wire: a model plus its optimizer <-> ModelSnapshot
// (plain Float32Arrays, services/run/model-snapshot.ts).
import type { Model } from './model.ts';
import { Adam, assignChecked } from './optim.ts';
import { SnapshotMismatchError } from './errors.ts';
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

/** Loads weights (and, when given, optimizer state) after checking every name and shape. */
export function restoreModel(model: Model, optimizer: Adam | undefined, snap: ModelSnapshot): void {
  if (snap.role !== model.role) throw new SnapshotMismatchError(`snapshot is of a ${snap.role}, not a ${model.role}`);
  const byName = new Map(snap.tensors.map((t) => [t.name, t]));
  const expected = [...model.params, ...model.state];
  for (const { name, variable } of expected) {
    const found = byName.get(name);
    if (!found) throw new SnapshotMismatchError(`${model.role} tensor ${name} is missing from the snapshot`);
    assignChecked(`${model.role}/${name}`, variable, found);
  }
  if (byName.size !== expected.length) {
    const known = new Set(expected.map((e) => e.name));
    const extra = [...byName.keys()].filter((n) => !known.has(n));
    throw new SnapshotMismatchError(`${model.role} snapshot has tensors the model lacks: ${extra.join(', ')}`);
  }
  if (optimizer) optimizer.loadSlots(snap.optimizer.step, new Map(snap.optimizer.slots.map((s) => [s.name, s])));
}
