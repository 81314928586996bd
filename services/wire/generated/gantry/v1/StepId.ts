// Original file: proto/gantry/v1/common.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Names one step of one run. Every call that reads or changes model state carries it: results
 * are a pure function of (weights, run seed, iteration, step), and a retried call with the same
 * id is recognised and never applied twice. A call that changes state (TrainStep,
 * ApplyUpstreamGradient) is executed only for the step the run's current scheduler generation
 * commanded (armed); any other id that is not a retry of an applied step is refused with
 * FAILED_PRECONDITION naming the expected step, and changes nothing.
 * 
 * Errors of every service are bounded: details at most 1024 characters, echoed ids and names
 * clipped to their first 64 characters plus "... (N chars)".
 */
export interface StepId {
  /**
   * The run's id (the name of its run directory); a server bound to another run rejects the call
   * with FAILED_PRECONDITION (the message quotes at most 64 characters of it).
   */
  'runId'?: (string);
  /**
   * Iteration t of Algorithm 1 (Goodfellow et al. 2014), counted from 0.
   */
  'iteration'?: (number | string | Long);
  /**
   * Step within the iteration: s in 0..k-1 for the k D-steps, k for the G-step.
   */
  'step'?: (number);
}

/**
 * Names one step of one run. Every call that reads or changes model state carries it: results
 * are a pure function of (weights, run seed, iteration, step), and a retried call with the same
 * id is recognised and never applied twice. A call that changes state (TrainStep,
 * ApplyUpstreamGradient) is executed only for the step the run's current scheduler generation
 * commanded (armed); any other id that is not a retry of an applied step is refused with
 * FAILED_PRECONDITION naming the expected step, and changes nothing.
 * 
 * Errors of every service are bounded: details at most 1024 characters, echoed ids and names
 * clipped to their first 64 characters plus "... (N chars)".
 */
export interface StepId__Output {
  /**
   * The run's id (the name of its run directory); a server bound to another run rejects the call
   * with FAILED_PRECONDITION (the message quotes at most 64 characters of it).
   */
  'runId': (string);
  /**
   * Iteration t of Algorithm 1 (Goodfellow et al. 2014), counted from 0.
   */
  'iteration': (number);
  /**
   * Step within the iteration: s in 0..k-1 for the k D-steps, k for the G-step.
   */
  'step': (number);
}
