// Adam (Kingma & Ba 2015) over a model's named variables, with its state as plain named slots so
// checkpoints hold exactly what the next update needs. Optional learning-rate decay is the
// workshop's continuous exponential schedule: lr_t = lr * rate^(t / steps) (0.75 and 1100 there).
// Optionally (emaDecay > 0) it also keeps an exponential moving average of every parameter, as
// Keras' `use_ema` and TF-Addons' MovingAverage do: slots "<param>/ema", updated after each step
// with TensorFlow's ExponentialMovingAverage warm-up, decay_t = min(decay, (1 + t) / (10 + t)), so
// that early averages are not dominated by the initial weights. A GAN samples from the averaged
// generator (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training").
import { tf } from './tf.ts';
import type { NamedVariable } from './model.ts';
import { SnapshotMismatchError } from './errors.ts';
import { clipText } from '../telemetry/clip.ts';
import { ADAM_KERNEL, type AdamKernelAttrs } from './backend/wasm-fast-kernels/adam.ts';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 0 disables decay. */
  decayRate: number;
  decaySteps: number;
  /** Decay of the parameters' moving average; absent or 0: no average is kept. */
  emaDecay?: number;
}

/** The moving average's decay at update t (1-based): TensorFlow's num_updates warm-up. */
export function emaDecayAt(decay: number, t: number): number {
  return Math.min(decay, (1 + t) / (10 + t));
}

export const WORKSHOP_DECAY = { decayRate: 0.75, decaySteps: 1100 } as const;

interface Slot { name: string; param: tf.Variable; m: tf.Variable; v: tf.Variable; ema?: tf.Variable }

export class Adam {
  /** Number of updates applied so far. */
  step = 0;
  private readonly slots: Slot[];

  constructor(params: readonly NamedVariable[], readonly hyper: AdamHyper) {
    // Variables survive tf.tidy; the zero tensors they start from do not.
    this.slots = tf.tidy(() => params.map(({ name, variable }) => ({
      name,
      param: variable,
      m: tf.variable(tf.zerosLike(variable), false),
      v: tf.variable(tf.zerosLike(variable), false),
      // The average starts at the initial weights (a restore overwrites it).
      ema: (hyper.emaDecay ?? 0) > 0 ? tf.variable(variable.clone(), false) : undefined,
    })));
  }

  /** Whether a moving average of the parameters is kept (emaDecay > 0). */
  get averaging(): boolean {
    return (this.hyper.emaDecay ?? 0) > 0;
  }

  /** The parameters' moving averages, named like the parameters, in parameter order; [] when not averaging. */
  averages(): { name: string; variable: tf.Variable }[] {
    return this.slots.flatMap((s) => (s.ema ? [{ name: s.name, variable: s.ema }] : []));
  }

  /** The learning rate the next update uses. */
  learningRate(step = this.step): number {
    const { lr, decayRate, decaySteps } = this.hyper;
    return decayRate > 0 ? lr * Math.pow(decayRate, step / decaySteps) : lr;
  }

  /** grads[i] is the gradient of params[i] (the constructor's order). */
  apply(grads: readonly tf.Tensor[]): void {
    if (grads.length !== this.slots.length) {
      throw new Error(`Adam.apply: expected ${this.slots.length} gradients, got ${grads.length}`);
    }
    const t = this.step + 1;
    const { beta1, beta2, epsilon } = this.hyper;
    // Bias corrections folded into the step size, computed in float64.
    const alpha = (this.learningRate() * Math.sqrt(1 - Math.pow(beta2, t))) / (1 - Math.pow(beta1, t));
    // The fused kernel (wasm fast kernels) computes exactly what the op-by-op form below does.
    const fused = tf.getKernel(ADAM_KERNEL, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      this.slots.forEach((s, i) => {
        const g = grads[i];
        if (fused) {
          const attrs: AdamKernelAttrs = { beta1, beta2, alpha, epsilon };
          const [p, m, v] = tf.engine().runKernel(ADAM_KERNEL, { param: s.param, m: s.m, v: s.v, g }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
          s.m.assign(m);
          s.v.assign(v);
          s.param.assign(p);
          return;
        }
        const m = tf.add(tf.mul(s.m, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(s.v, beta2), tf.mul(tf.square(g), 1 - beta2));
        s.m.assign(m);
        s.v.assign(v);
        s.param.assign(tf.sub(s.param, tf.div(tf.mul(m, alpha), tf.add(tf.sqrt(v), epsilon))));
      });
      if (this.averaging) {
        const d = emaDecayAt(this.hyper.emaDecay!, t);
        for (const s of this.slots) s.ema!.assign(tf.add(tf.mul(s.ema!, d), tf.mul(s.param, 1 - d)));
      }
    });
    this.step = t;
  }

  /** Slots named "<param>/m", "<param>/v" (and "<param>/ema" when averaging), in parameter order. */
  slotTensors(): { name: string; variable: tf.Variable }[] {
    return this.slots.flatMap((s) => [
      { name: `${s.name}/m`, variable: s.m },
      { name: `${s.name}/v`, variable: s.v },
      ...(s.ema ? [{ name: `${s.name}/ema`, variable: s.ema }] : []),
    ]);
  }

  /**
   * Checks a whole optimizer state against this optimizer without changing anything: the step (a
   * non-negative integer), every slot present with the variable's shape and finite values, no
   * slot this optimizer lacks. Returns the assignments loadSlots performs.
   */
  checkSlots(step: number, values: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): CheckedAssignment[] {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new SnapshotMismatchError(`optimizer step ${step}: expected a non-negative integer`);
    }
    const slots = this.slotTensors();
    const checked = slots.map(({ name, variable }) => {
      const found = values.get(name);
      if (!found) {
        const why = name.endsWith('/ema') ? ' (the checkpoint was written without a moving average of the weights)' : '';
        throw new SnapshotMismatchError(`optimizer slot ${clipText(name)} is missing${why}`);
      }
      return checkAssignable(name, variable, found);
    });
    const known = new Set(slots.map((s) => s.name));
    const extra = [...values.keys()].filter((n) => !known.has(n));
    if (extra.length > 0) {
      throw new SnapshotMismatchError(`optimizer slots ${extra.slice(0, 3).map((n) => clipText(n)).join(', ')} are not this optimizer's` +
        (extra.some((n) => n.endsWith('/ema')) ? ' (the checkpoint holds a moving average of the weights; this run keeps none)' : ''));
    }
    return checked;
  }

  /** Loads an optimizer state: all of it after checkSlots accepted all of it, or nothing. */
  loadSlots(step: number, values: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): void {
    assignAll(this.checkSlots(step, values));
    this.step = step;
  }

  /** Sets the step after its slots were assigned by the caller (restoreModel's all-or-nothing load). */
  setStep(step: number): void {
    this.step = step;
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
      s.ema?.dispose();
    }
  }
}

/** True when every element of every tensor is finite (one scalar read): sum(g * 0) is 0 or NaN. */
export function allFinite(tensors: readonly tf.Tensor[]): boolean {
  if (tensors.length === 0) return true;
  return tf.tidy(() => tf.addN(tensors.map((t) => tf.sum(tf.mul(t, 0)))).dataSync()[0]) === 0;
}

/** A value checked against its variable (same shape, every value finite), not yet assigned. */
export interface CheckedAssignment {
  readonly variable: tf.Variable;
  readonly data: Float32Array;
}

/** Index of the first non-finite value, or -1: x * 0 is 0 for finite x and NaN for NaN and +-Inf. */
function firstNonFinite(data: Float32Array): number {
  let acc = 0;
  for (let i = 0; i < data.length; i++) acc += data[i] * 0;
  if (acc === 0) return -1;
  return data.findIndex((v) => !Number.isFinite(v));
}

/**
 * Checks that `value` can replace `variable` (shape equal, data length equal, values finite)
 * without assigning anything; throws SnapshotMismatchError naming `name` otherwise.
 */
export function checkAssignable(
  name: string,
  variable: tf.Variable,
  value: { shape: readonly number[]; data: Float32Array },
): CheckedAssignment {
  const same = value.shape.length === variable.shape.length && value.shape.every((d, i) => d === variable.shape[i]);
  if (!same) {
    throw new SnapshotMismatchError(
      `${clipText(name)}: expected shape [${variable.shape.join(', ')}], found [${value.shape.slice(0, 8).join(', ')}${value.shape.length > 8 ? ', ...' : ''}]`,
    );
  }
  if (value.data.length !== variable.size) {
    throw new SnapshotMismatchError(`${clipText(name)}: expected ${variable.size} values, found ${value.data.length}`);
  }
  const bad = firstNonFinite(value.data);
  if (bad >= 0) throw new SnapshotMismatchError(`${clipText(name)}: expected finite values, found ${value.data[bad]} at index ${bad}`);
  return { variable, data: value.data };
}

/** Assigns values that were all checked first (checkAssignable): the second half of an all-or-nothing load. */
export function assignAll(checked: readonly CheckedAssignment[]): void {
  for (const { variable, data } of checked) {
    const t = tf.tensor(data, variable.shape, 'float32');
    variable.assign(t);
    t.dispose();
  }
}

/** Assigns a flat float32 array to a variable after checking its shape and values. */
export function assignChecked(
  name: string,
  variable: tf.Variable,
  value: { shape: readonly number[]; data: Float32Array },
): void {
  assignAll([checkAssignable(name, variable, value)]);
}
