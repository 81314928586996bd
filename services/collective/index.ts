// The collectives of a data-parallel replica group: no NATS, no tfjs, no model code.
//
//   const endpoint = new CollectiveEndpoint({ runId });      // once per process, before listen()
//   endpoint.addToServer(server);
//   const group = new RingGroup({ runId, generation, rank, size, addresses, endpoint });
//   await group.connect();                                   // optional: the first call connects
//   const mean = await group.allReduceMean(step, grads);     // Float32Array, bit-identical on every rank
//   await group.close();                                     // and a new group for a new generation
export { CollectiveEndpoint, type CollectiveEndpointOptions } from './endpoint.ts';
export { RingGroup } from './ring-group.ts';
export { openGroup, type CollectiveWait, type GroupHandle, type GroupSpec, type GroupSum } from './group-handle.ts';
export { DEFAULT_CHUNK_BYTES, DEFAULT_MAX_CHUNKS_IN_FLIGHT, DEFAULT_TIMEOUTS_MS, type RingGroupOptions, type AllReduceOptions } from './ring-options.ts';
export { CollectiveConfigError, CollectiveError, type CollectiveFailure, type CollectivePhase } from './errors.ts';
export { CollectiveRefusedError } from '../wire/errors.ts';
