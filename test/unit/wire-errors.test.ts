// Typed errors -> gRPC status at the server edge, and status -> typed PeerError at the client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  fromStatus, PeerDeadlineError, PeerError, PeerUnavailableError, RequestValidationError, TensorValidationError, toStatus,
  WrongRunError,
} from '../../services/wire/errors.ts';
import { NonFiniteError, ShapeError, SnapshotMismatchError } from '../../services/core/errors.ts';

test('each typed error maps to its documented status, details carrying the message', () => {
  const cases: [unknown, grpc.status, string][] = [
    [new TensorValidationError('fake.shape[1]', '28', '32'), grpc.status.INVALID_ARGUMENT, 'fake.shape[1]: expected 28, found 32'],
    [new RequestValidationError('batch_size', '8 (the configured batch size) or 0', '9'), grpc.status.INVALID_ARGUMENT,
      'batch_size: expected 8 (the configured batch size) or 0, found 9'],
    [new ShapeError('grad', [8, 28, 28, 1], [8, 28, 28, 2]), grpc.status.INVALID_ARGUMENT,
      'grad: expected shape [8, 28, 28, 1], found [8, 28, 28, 2]'],
    [new SnapshotMismatchError('generator tensor x is missing'), grpc.status.INVALID_ARGUMENT, 'generator tensor x is missing'],
    [new NonFiniteError('discriminator loss', 3, NaN), grpc.status.FAILED_PRECONDITION,
      'discriminator loss is NaN at iteration 3; the update was not applied'],
    [new WrongRunError('run-a', 'run-b'), grpc.status.FAILED_PRECONDITION, 'id.run_id: this server serves run "run-a", found "run-b"'],
    [new RangeError('boom'), grpc.status.INTERNAL, 'internal error: RangeError: boom'],
    ['a string', grpc.status.INTERNAL, 'internal error: string: a string'],
  ];
  for (const [err, code, details] of cases) {
    const s = toStatus(err);
    assert.equal(s.code, code, `code for ${String(err)}`);
    assert.equal(s.details, details);
  }
});

test('the client side rebuilds the error name and field from trailing metadata', () => {
  const status = toStatus(new TensorValidationError('grad.data', 'finite values', '4 non-finite values, first at index 17'));
  const err = fromStatus(status, 'GeneratorService/ApplyUpstreamGradient', '127.0.0.1:5000');
  assert.ok(err instanceof PeerError);
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(err.codeName, 'INVALID_ARGUMENT');
  assert.equal(err.remoteName, 'TensorValidationError');
  assert.equal(err.field, 'grad.data');
  assert.equal(err.method, 'GeneratorService/ApplyUpstreamGradient');
  assert.equal(err.peer, '127.0.0.1:5000');
  assert.equal(err.retryable, false);
  assert.equal(err.message,
    'GeneratorService/ApplyUpstreamGradient on 127.0.0.1:5000: INVALID_ARGUMENT: grad.data: expected finite values, found 4 non-finite values, first at index 17');
  const nonFinite = fromStatus(toStatus(new NonFiniteError('generator loss', 2, Infinity)), 'DiscriminatorService/GeneratorGrad', 'p');
  assert.equal(nonFinite.remoteName, 'NonFiniteError');
  assert.equal(nonFinite.code, grpc.status.FAILED_PRECONDITION);
});

test('deadline and unavailable become their own retryable classes', () => {
  const late = fromStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }, 'm', 'p');
  assert.ok(late instanceof PeerDeadlineError);
  assert.equal(late.name, 'PeerDeadlineError');
  assert.equal(late.retryable, true);
  const gone = fromStatus({ code: grpc.status.UNAVAILABLE, details: 'No connection established' }, 'm', 'p');
  assert.ok(gone instanceof PeerUnavailableError);
  assert.equal(gone.retryable, true);
  assert.equal(fromStatus({}, 'm', 'p').code, grpc.status.UNKNOWN);
});
