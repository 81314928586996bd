// TODO(worker): the data-parallel worker (`gantry serve worker`) is written on another branch and
// is not on this one. The deploy files already run it (Compose service `worker`, the Kubernetes
// StatefulSet `gantry-worker`) against this contract: the same image, `gantry serve worker`, the
// common GANTRY_* variables of the other roles, GANTRY_GRPC_PORT 50053 for the collective, the
// metrics port 9464, and the rank from the StatefulSet pod ordinal in GANTRY_POD_NAME
// (metadata.name, e.g. gantry-worker-2 -> rank 2).
//
// The lead empties this list when the worker is merged: every name must then be read under
// services/, and the Compose classifier run must pass.
export const TODO_WORKER_PENDING = {
  /** Variables the deploy files give the worker that no code under services/ reads yet. */
  envNames: [] as readonly string[],
  /** While true, the Compose classifier run with `--scale worker=2` is skipped. */
  composeClassifierRun: false,
};
