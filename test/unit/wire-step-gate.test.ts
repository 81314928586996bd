// StepGate: only the armed step is admitted, once; every refusal names the expected step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepGate } from '../../services/wire/step-gate.ts';
import { StepNotArmedError, toStatus } from '../../services/wire/errors.ts';
import * as grpc from '@grpc/grpc-js';

const refused = (message: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof StepNotArmedError, String(err));
  assert.match(err.message, message);
  assert.equal(toStatus(err).code, grpc.status.FAILED_PRECONDITION);
  return true;
};

test('nothing is admitted before a step is commanded', () => {
  const gate = new StepGate('discriminator', 'TrainStep');
  assert.throws(() => gate.check(0, 0), refused(/^TrainStep for \(iteration 0, step 0\) refused: the discriminator executes only the step its scheduler commanded; expected none: no step has been commanded$/));
  assert.throws(() => gate.requireArmed(), refused(/^TrainStep refused/));
});

test('the armed step is admitted once; other steps are refused naming it', () => {
  const gate = new StepGate('generator', 'ApplyUpstreamGradient');
  gate.arm({ generation: 2, iteration: 3, step: 1 });
  assert.throws(() => gate.check(1_000_000, 1), refused(/\(iteration 1000000, step 1\) refused.*expected \(iteration 3, step 1\) of generation 2$/));
  assert.throws(() => gate.check(3, 0), refused(/expected \(iteration 3, step 1\)/));
  assert.deepEqual(gate.check(3, 1), { generation: 2, iteration: 3, step: 1 });
  assert.deepEqual(gate.check(3, 1), { generation: 2, iteration: 3, step: 1 }, 'check alone changes nothing');
  gate.consume();
  assert.throws(() => gate.check(3, 1), refused(/expected none: \(iteration 3, step 1\) of generation 2 was already applied$/));
});

test('a step the service runs itself keeps the gRPC route closed; a restore clears everything', () => {
  const gate = new StepGate('discriminator', 'TrainStep');
  gate.arm({ generation: 1, iteration: 0, step: 0 });
  gate.runLocally({ generation: 1, iteration: 0, step: 1 });
  assert.equal(gate.armed, undefined);
  assert.throws(() => gate.check(0, 1), refused(/expected none: the last step commanded, \(iteration 0, step 1\) of generation 1, is computed by the discriminator itself$/));
  gate.arm({ generation: 1, iteration: 4, step: 0 });
  gate.reset();
  assert.throws(() => gate.check(4, 0), refused(/no step has been commanded/));
});
