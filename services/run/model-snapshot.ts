// A model's state as plain arrays: weights (params + batch-norm state) and Adam state. This is
// what a checkpoint stores per role; the lead converts tfjs models and optimizers to and from it.
// On disk: <role>.safetensors holds `tensors`; <role>.optim.safetensors holds `optimizer.slots`
// ("<param>/m", "<param>/v", and "<param>/ema" for a moving average) with kind, step and hyper-parameters in its header metadata.
import { CheckpointError } from './errors.ts';
import type { ModelRole } from './manifest.ts';
import { checkTensorEntries, type TensorEntry } from './tensor-entry.ts';

export interface AdamState {
  kind: 'adam';
  /** Number of updates applied so far (Adam's bias correction uses it). */
  step: number;
  /** learningRate, beta1, beta2, epsilon, ... */
  hyper: Record<string, number>;
  /** "<param>/m" and "<param>/v" for each trainable param, same shape as the param. */
  slots: TensorEntry[];
}

export interface ModelSnapshot {
  role: ModelRole;
  arch: Record<string, unknown>;
  tensors: TensorEntry[];
  optimizer: AdamState;
}

export const MODEL_FILE_FORMAT = 'gantry-model/1';

export function modelFileNames(role: ModelRole): { file: string; optimizerFile: string } {
  return { file: `${role}.safetensors`, optimizerFile: `${role}.optim.safetensors` };
}

const SLOT_RE = /^(.*)\/(m|v|ema)$/;

/** Returns the first problem of a snapshot (shapes, slot names, step, hyper), or undefined. */
export function checkSnapshot(s: ModelSnapshot): string | undefined {
  const where = `${s.role} snapshot`;
  const problem = checkTensorEntries(s.tensors, where) ?? checkTensorEntries(s.optimizer.slots, `${where} optimizer`);
  if (problem) return problem;
  if (s.optimizer.kind !== 'adam') return `${where}: optimizer kind "${String(s.optimizer.kind)}"; expected "adam"`;
  if (!Number.isSafeInteger(s.optimizer.step) || s.optimizer.step < 0) {
    return `${where}: optimizer step ${s.optimizer.step}; expected a non-negative integer`;
  }
  for (const [k, v] of Object.entries(s.optimizer.hyper)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `${where}: optimizer hyper-parameter ${k} = ${v}; expected a finite number`;
  }
  const params = new Map(s.tensors.map((t) => [t.name, t.shape]));
  for (const slot of s.optimizer.slots) {
    const m = SLOT_RE.exec(slot.name);
    const shape = m ? params.get(m[1]) : undefined;
    if (!m || !shape) return `${where}: optimizer slot "${slot.name}" is not "<param>/m", "<param>/v" or "<param>/ema" of a tensor of the model`;
    if (shape.join(',') !== slot.shape.join(',')) {
      return `${where}: optimizer slot "${slot.name}" has shape [${slot.shape.join(', ')}]; param has [${shape.join(', ')}]`;
    }
  }
  return undefined;
}

/** Header metadata of the two files of a snapshot. */
export function snapshotMetadata(s: ModelSnapshot): { model: Record<string, string>; optimizer: Record<string, string> } {
  return {
    model: { format: MODEL_FILE_FORMAT, role: s.role },
    optimizer: {
      format: MODEL_FILE_FORMAT,
      role: s.role,
      optimizer: s.optimizer.kind,
      step: String(s.optimizer.step),
      hyper: JSON.stringify(s.optimizer.hyper),
    },
  };
}

/** Rebuilds the Adam state from an optimizer file's metadata and tensors. */
export function optimizerFromFile(file: string, metadata: Record<string, string>, slots: TensorEntry[]): AdamState {
  if (metadata.optimizer !== 'adam') {
    throw new CheckpointError(file, `${file}: metadata optimizer is ${JSON.stringify(metadata.optimizer)}; expected "adam"`);
  }
  const step = Number(metadata.step);
  if (!/^\d+$/.test(metadata.step ?? '') || !Number.isSafeInteger(step)) {
    throw new CheckpointError(file, `${file}: metadata step is ${JSON.stringify(metadata.step)}; expected a non-negative integer`);
  }
  let hyper: unknown;
  try {
    hyper = JSON.parse(metadata.hyper ?? '');
  } catch (err) {
    throw new CheckpointError(file, `${file}: metadata hyper is not JSON`, { cause: err });
  }
  const isNumberRecord =
    typeof hyper === 'object' && hyper !== null && !Array.isArray(hyper) && Object.values(hyper).every((v) => typeof v === 'number');
  if (!isNumberRecord) throw new CheckpointError(file, `${file}: metadata hyper must be an object of numbers, found ${metadata.hyper}`);
  return { kind: 'adam', step, hyper: hyper as Record<string, number>, slots };
}
