// The typed client of a worker's WorkerService (proto/gantry/v1/worker.proto): the scheduler
// streams rank 0's snapshot for checkpoints and loads a checkpoint into rank 0; a newcomer streams
// rank 0's snapshot before its first step. Every call has a deadline (ClientOptions, or per call).
import type { WeightsChunk__Output } from './generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse__Output } from './generated/gantry/v1/LoadWeightsResponse.ts';
import { RpcClient, type CallOptions, type ClientOptions } from './client.ts';
import { WORKER_SERVICE } from './proto.ts';
import { chunksToSnapshot, snapshotToChunks, type WeightsState } from './weights-stream.ts';

export class WorkerClient {
  private readonly rpc: RpcClient;

  constructor(address: string, opts: ClientOptions = {}) {
    this.rpc = new RpcClient(address, WORKER_SERVICE, opts);
  }

  get address(): string {
    return this.rpc.address;
  }

  /** The replica's snapshot; lastApplied.iteration + 1 is the number of steps it includes. */
  async streamWeights(call?: CallOptions): Promise<WeightsState> {
    const chunks = this.rpc.serverStream<object, WeightsChunk__Output>('StreamWeights', {}, this.rpc.deadline('weights', call));
    return chunksToSnapshot(chunks, 'classifier');
  }

  async loadWeights(state: WeightsState, call?: CallOptions): Promise<{ tensorCount: number; totalBytes: number }> {
    const res = await this.rpc.clientStream<object, LoadWeightsResponse__Output>('LoadWeights', snapshotToChunks(state), this.rpc.deadline('weights', call));
    return { tensorCount: res.tensorCount, totalBytes: Number(res.totalBytes) };
  }

  close(): void {
    this.rpc.close();
  }
}
