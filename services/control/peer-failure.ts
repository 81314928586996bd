// A gRPC call to the peer service failed inside a step command: say which role is at fault and
// how, in the terms the scheduler acts on (services/control/errors.ts codes).
import { PeerError, TensorValidationError } from '../wire/errors.ts';
import { ServiceError } from './errors.ts';
import type { ServiceRole } from './subjects.ts';

// The core's NonFiniteError message: "<quantity> is <value> at iteration <t>; ..."
const NON_FINITE_RE = /^(.*) is (?:NaN|-?Infinity|null) at iteration (\d+)/;

export function peerFailure(err: unknown, peer: ServiceRole, iteration: number): Error {
  if (err instanceof TensorValidationError) {
    // The peer answered, but with a tensor outside its documented shape or range (e.g. images
    // outside [-1, 1]): a fault of the peer, never used for an update.
    return new ServiceError('internal', `the ${peer}'s answer is invalid: ${err.message}`, { role: peer, field: err.field, iteration }, { cause: err });
  }
  if (!(err instanceof PeerError)) return err instanceof Error ? err : new Error(String(err));
  if (err.remoteName === 'NonFiniteError') {
    const m = NON_FINITE_RE.exec(err.details);
    return new ServiceError('non-finite', `${peer}: ${err.details}`, {
      quantity: m?.[1] ?? `${peer} output`, iteration: m ? Number(m[2]) : iteration, role: peer,
    }, { cause: err });
  }
  if (err.remoteName === 'WrongRunError') return new ServiceError('wrong-run', `${peer}: ${err.details}`, { role: peer }, { cause: err });
  if (err.retryable || (err.codeName === 'INTERNAL' && /not restored/.test(err.details))) {
    return new ServiceError('peer-unavailable', `the ${peer} did not answer over gRPC (${err.message})`, { role: peer }, { cause: err });
  }
  return new ServiceError('internal', `gRPC call to the ${peer} failed: ${err.message}`, { role: peer }, { cause: err });
}
