// The worker's gRPC edge: WorkerService over the current Replica. StreamWeights sends the
// replica's committed state; LoadWeights receives a whole snapshot, validates it (layout and
// finiteness on the wire, names and shapes against the model), and only then assigns it. Only
// the snapshot the scheduler armed with a `load` command is admitted (step-gate.ts): anything
// else is StepNotArmedError (FAILED_PRECONDITION) and changes nothing.
import type { WeightsChunk__Output } from '../wire/generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse } from '../wire/generated/gantry/v1/LoadWeightsResponse.ts';
import { WORKER_SERVICE } from '../wire/proto.ts';
import { clientStream, serverStream, type GantryServer } from '../wire/server.ts';
import type { StepGate } from '../wire/step-gate.ts';
import { checkSameArch, chunksToSnapshot, loadSummary, snapshotToChunks, type WeightsState } from '../wire/weights-stream.ts';

/** What the service needs of the worker: its replica's state, read and replaced between steps. */
export interface ReplicaAccess {
  snapshot(): WeightsState;
  load(state: WeightsState): void;
}

export class WorkerGrpcService {
  constructor(private readonly replica: ReplicaAccess, private readonly loadGate: StepGate) {}

  addToServer(server: GantryServer): void {
    server.addService(WORKER_SERVICE, {
      StreamWeights: serverStream(() => snapshotToChunks(this.replica.snapshot())),
      LoadWeights: clientStream((chunks: AsyncIterable<WeightsChunk__Output>) => this.loadWeights(chunks)),
    });
  }

  private async loadWeights(chunks: AsyncIterable<WeightsChunk__Output>): Promise<LoadWeightsResponse> {
    this.loadGate.requireArmed(); // before reading megabytes from a caller nobody armed
    const state = await chunksToSnapshot(chunks, 'classifier');
    // Tensors that fit by name and shape but are labelled another architecture are another model.
    checkSameArch({ arch: this.replica.snapshot().snapshot.arch }, state.snapshot);
    this.loadGate.check(state.lastApplied.iteration, state.lastApplied.step);
    this.replica.load(state);
    this.loadGate.consume();
    return loadSummary(state.snapshot);
  }
}
