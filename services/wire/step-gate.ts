// Which state-changing data-plane call a service may execute: only the step its current scheduler
// generation commanded. Without mutual TLS anyone who can reach the port can send a well-formed
// TrainStep, and with it (peer-auth.ts checks the caller's role) a peer can still send the wrong
// step; the gate makes such a call harmless.
//
// Protocol (one StepGate per state-changing method of a service):
//   1. The service is restored into generation g (NATS `restore`): reset(); nothing is armed.
//   2. The scheduler commands step (t, s) over NATS, stamped g. Either the peer is to deliver the
//      update over gRPC: the command handler calls arm({g, t, s}); or the service computes it
//      itself (today's d-step and g-step): runLocally({g, t, s}) records the step as expected
//      and leaves the gRPC route closed.
//   3. The gRPC handler calls check(t, s) before it changes anything and consume() once the
//      update is applied: the armed step is admitted once; any other (t, s), or any call while
//      nothing is armed, is refused with StepNotArmedError (FAILED_PRECONDITION) naming the
//      expected step. Retries of an already applied step never reach the gate: the node answers
//      them with applied=false without changing anything.
// LoadWeights uses the same gate over the (iteration, step) the loaded snapshot has applied.
import { StepNotArmedError } from './errors.ts';

/** A step as the scheduler commands it: (generation, iteration t, step s). */
export interface GateStep {
  generation: number;
  iteration: number;
  step: number;
}

const own = ({ generation, iteration, step }: GateStep): GateStep => ({ generation, iteration, step });

export class StepGate {
  private armedStep: GateStep | undefined;
  private commanded: (GateStep & { local: boolean }) | undefined;

  constructor(
    /** The service's role, e.g. "discriminator". */
    readonly role: string,
    /** The gRPC method this gate guards, e.g. "TrainStep". */
    readonly method: string,
  ) {}

  /** The scheduler commanded `s` and a peer will deliver it through `method`: admit it once. */
  arm(s: GateStep): void {
    this.armedStep = own(s);
    this.commanded = { ...own(s), local: false };
  }

  /** The scheduler commanded `s` and this service computes it itself: `method` stays closed. */
  runLocally(s: GateStep): void {
    this.armedStep = undefined;
    this.commanded = { ...own(s), local: true };
  }

  /** A new generation (or none): nothing is armed until its scheduler commands a step. */
  reset(): void {
    this.armedStep = undefined;
    this.commanded = undefined;
  }

  get armed(): GateStep | undefined {
    return this.armedStep && { ...this.armedStep };
  }

  /** Throws StepNotArmedError unless something is armed (checked before reading a long stream). */
  requireArmed(): void {
    if (!this.armedStep) throw this.refusal(undefined);
  }

  /** Throws StepNotArmedError unless (iteration, step) is the armed step; changes nothing. */
  check(iteration: number, step: number): GateStep {
    const a = this.armedStep;
    if (!a || a.iteration !== iteration || a.step !== step) throw this.refusal({ iteration, step });
    return { ...a };
  }

  /** The armed step was applied: close the gate (each armed step is admitted once). */
  consume(): void {
    this.armedStep = undefined;
  }

  private refusal(found: { iteration: number; step: number } | undefined): StepNotArmedError {
    const c = this.commanded;
    const expected = this.armedStep
      ? `(iteration ${this.armedStep.iteration}, step ${this.armedStep.step}) of generation ${this.armedStep.generation}`
      : c?.local
        ? `none: the last step commanded, (iteration ${c.iteration}, step ${c.step}) of generation ${c.generation}, is computed by the ${this.role} itself`
        : c
          ? `none: (iteration ${c.iteration}, step ${c.step}) of generation ${c.generation} was already applied`
          : 'none: no step has been commanded';
    return new StepNotArmedError(this.role, this.method, found, this.armedStep ? { ...this.armedStep } : undefined, expected);
  }
}

/** The gates of a generator or discriminator service: its update method and LoadWeights. */
export interface DataPlaneGates {
  update: StepGate;
  load: StepGate;
}

export function dataPlaneGates(role: string, updateMethod: string): DataPlaneGates {
  return { update: new StepGate(role, updateMethod), load: new StepGate(role, 'LoadWeights') };
}
