// Who may call which data-plane method, once mutual TLS identifies the caller. The caller's role
// is read from its verified client certificate (security/identity.ts); a method accepts only the
// roles that call it in a run:
//   GeneratorService/Generate, ApplyUpstreamGradient       the discriminator (D-steps; upstream gradients)
//   DiscriminatorService/TrainStep, GeneratorGrad          the generator (fake batches for D; G-steps);
//                                                          GeneratorGrad also rank 0 of a discriminator replica group (its fan-out)
//   */StreamWeights, */LoadWeights                         the scheduler (snapshots to and from the run directory)
//   CollectiveService/Ring                                 the replicas of a data-parallel group (workers; discriminator replicas)
//   any other method of a gantry service                   any role of the run (RUN_ROLES)
// A certificate bound to another run (spiffe://gantry/<run>/<role>) is refused as well. Health and
// reflection are registered outside GantryServer.addService and stay open to every TLS client.
// Refusals are PeerNotAllowedError (PERMISSION_DENIED), naming the role seen and the roles allowed.
import type * as grpc from '@grpc/grpc-js';
import { peerIdentity, type PeerIdentity } from '../security/identity.ts';
import { PeerNotAllowedError } from './errors.ts';
import { DISCRIMINATOR_SERVICE, GENERATOR_SERVICE, WORKER_SERVICE } from './proto.ts';

/** Every role a run's processes have; the default for methods the table below does not name. */
export const RUN_ROLES: readonly string[] = ['generator', 'discriminator', 'scheduler', 'worker'];

/** Allowed caller roles by method label ("Service/Method", as server.ts's methodLabel). */
export const PEER_POLICY: Readonly<Record<string, readonly string[]>> = {
  'GeneratorService/Generate': ['discriminator'],
  'GeneratorService/ApplyUpstreamGradient': ['discriminator'],
  'GeneratorService/StreamWeights': ['scheduler'],
  'GeneratorService/LoadWeights': ['scheduler'],
  'DiscriminatorService/TrainStep': ['generator'],
  'DiscriminatorService/GeneratorGrad': ['generator', 'discriminator'],
  'DiscriminatorService/StreamWeights': ['scheduler'],
  'DiscriminatorService/LoadWeights': ['scheduler'],
  'CollectiveService/Ring': ['worker', 'discriminator'],
  // A newcomer pulls rank 0's state; the scheduler pulls a checkpoint or loads one into rank 0.
  'WorkerService/StreamWeights': ['worker', 'scheduler'],
  'WorkerService/LoadWeights': ['scheduler'],
};

export function allowedRoles(label: string): readonly string[] {
  return Object.hasOwn(PEER_POLICY, label) ? PEER_POLICY[label] : RUN_ROLES;
}

/** The role a client expects the server of `service` to present (undefined: any, e.g. health). */
export function serverRoleOf(service: string): string | undefined {
  if (service === GENERATOR_SERVICE) return 'generator';
  if (service === DISCRIMINATOR_SERVICE) return 'discriminator';
  if (service === WORKER_SERVICE) return 'worker';
  return undefined;
}

/** The caller's identity if it may call `label` in run `runId`; throws PeerNotAllowedError otherwise. */
export function authorizePeer(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>, label: string, runId?: string): PeerIdentity {
  const allowed = allowedRoles(label);
  const id = peerIdentity(call.getAuthContext()?.sslPeerCertificate);
  if (!id) throw new PeerNotAllowedError(label, undefined, allowed, 'the peer presented no certificate with a gantry identity');
  if (runId !== undefined && id.run !== undefined && id.run !== runId) {
    throw new PeerNotAllowedError(label, id.role, allowed, `the certificate is for run ${JSON.stringify(id.run)}, this server serves ${JSON.stringify(runId)}`);
  }
  if (!allowed.includes(id.role)) throw new PeerNotAllowedError(label, id.role, allowed);
  return id;
}
