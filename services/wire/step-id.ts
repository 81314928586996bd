// The (run, iteration, step) id every data-plane call carries, and its server-side checks.
import type { StepId__Output } from './generated/gantry/v1/StepId.ts';
import { RequestValidationError, WrongRunError } from './errors.ts';
import { WIRE_DTYPES, type WireDType } from './tensor-codec.ts';

export interface StepId {
  runId: string;
  /** Iteration t, from 0. */
  iteration: number;
  /** s in 0..k-1 for D-steps, k for the G-step. */
  step: number;
}

export interface StepRule {
  /** The run this server serves; unset accepts any run id. */
  runId?: string;
  /** Inclusive range of id.step. */
  minStep: number;
  maxStep: number;
}

/** Checks a received id and returns it as plain numbers. */
export function checkStepId(id: StepId__Output | null | undefined, rule: StepRule): StepId {
  if (!id) throw new RequestValidationError('id', 'a StepId', 'none');
  if (rule.runId !== undefined && id.runId !== rule.runId) throw new WrongRunError(rule.runId, id.runId);
  const iteration = Number(id.iteration);
  if (!Number.isSafeInteger(iteration) || iteration < 0) {
    throw new RequestValidationError('id.iteration', 'a non-negative integer below 2^53', String(id.iteration));
  }
  const step = Number(id.step);
  if (step < rule.minStep || step > rule.maxStep) {
    const range = rule.minStep === rule.maxStep ? String(rule.minStep) : `${rule.minStep}..${rule.maxStep}`;
    throw new RequestValidationError('id.step', range, String(id.step));
  }
  return { runId: id.runId, iteration, step };
}

/** Checks a response_dtype request field (a DType name). */
export function checkResponseDType(value: unknown): WireDType {
  if (!WIRE_DTYPES.includes(value as WireDType)) {
    throw new RequestValidationError('response_dtype', WIRE_DTYPES.join(', '), String(value));
  }
  return value as WireDType;
}

/** A StepId as the generated request types want it. */
export const toWireId = (id: StepId): StepId => ({ runId: id.runId, iteration: id.iteration, step: id.step });
