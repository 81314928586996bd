// DiscriminatorClient: typed calls to a gantry.v1.DiscriminatorService (the generator's G-steps
// ask it for dL_G/dG(z'); tests and tools stream its weights). Every call has a deadline.
import type { DStepMetrics as CoreDStepMetrics, StepKey } from '../core/gan/discriminator-node.ts';
import type { TrainStepRequest } from './generated/gantry/v1/TrainStepRequest.ts';
import type { DStepMetrics__Output } from './generated/gantry/v1/DStepMetrics.ts';
import type { GeneratorGradRequest } from './generated/gantry/v1/GeneratorGradRequest.ts';
import type { GeneratorGradResponse__Output } from './generated/gantry/v1/GeneratorGradResponse.ts';
import type { WeightsChunk__Output } from './generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse__Output } from './generated/gantry/v1/LoadWeightsResponse.ts';
import { DISCRIMINATOR_SERVICE } from './proto.ts';
import { RpcClient, type CallOptions, type ClientOptions } from './client.ts';
import { decodeTensor, encodeTensor, type WireDType } from './tensor-codec.ts';
import { toWireId, type StepId } from './step-id.ts';
import { chunksToSnapshot, snapshotToChunks } from './weights-stream.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';

export interface GeneratorGradResult {
  lossG: number;
  dFake: number;
  /** dL_G/dfake, (B, 28, 28, 1) row-major. */
  grad: Float32Array;
}

export interface DiscriminatorWeights {
  snapshot: ModelSnapshot;
  /** The last D-step included in the weights; {-1, -1} before any. */
  lastApplied: StepKey;
}

export interface DiscriminatorClientOptions extends ClientOptions {
  /** Encoding of tensors sent and asked for; default FLOAT32 (exact). */
  encoding?: WireDType;
  /** Image shape without the batch dimension; default [28, 28, 1]. */
  imageShape?: readonly number[];
}

/** Typed calls to a DiscriminatorService; every call has a deadline (ClientOptions, or per call). */
export class DiscriminatorClient {
  private readonly rpc: RpcClient;
  private readonly imageShape: readonly number[];

  constructor(address: string, private readonly opts: DiscriminatorClientOptions = {}) {
    this.rpc = new RpcClient(address, DISCRIMINATOR_SERVICE, opts);
    this.imageShape = opts.imageShape ?? [28, 28, 1];
  }

  get address(): string {
    return this.rpc.address;
  }

  private images(field: string, data: Float32Array) {
    const per = this.imageShape.reduce((n, d) => n * d, 1);
    if (data.length % per !== 0) {
      throw new RangeError(`${field} has ${data.length} values, not a multiple of ${per} (one image [${this.imageShape.join(', ')}])`);
    }
    return encodeTensor(data, [data.length / per, ...this.imageShape], this.opts.encoding);
  }

  /** D-step `id` on G(z) `fake` (B, 28, 28, 1); applied=false when (t, s) was already applied. */
  async trainStep(id: StepId, fake: Float32Array, call?: CallOptions): Promise<CoreDStepMetrics> {
    const req: TrainStepRequest = { id: toWireId(id), fake: this.images('fake', fake) };
    const res = await this.rpc.unary<TrainStepRequest, DStepMetrics__Output>('TrainStep', req, this.rpc.deadline('call', call));
    return { lossD: res.lossD, dReal: res.dReal, dFake: res.dFake, applied: res.applied, ...(res.gp === undefined ? {} : { gp: res.gp }) };
  }

  /** L_G and dL_G/dfake for the G-step batch `fake`, without updating D. */
  async generatorGrad(id: StepId, fake: Float32Array, call?: CallOptions): Promise<GeneratorGradResult> {
    const encoding = this.opts.encoding ?? 'FLOAT32';
    const req: GeneratorGradRequest = { id: toWireId(id), fake: this.images('fake', fake), responseDtype: encoding };
    const res = await this.rpc.unary<GeneratorGradRequest, GeneratorGradResponse__Output>('GeneratorGrad', req, this.rpc.deadline('call', call));
    const batch = fake.length / this.imageShape.reduce((n, d) => n * d, 1);
    const grad = decodeTensor(res.grad, 'grad', { shape: [batch, ...this.imageShape], dtypes: ['FLOAT32', encoding] }).data;
    return { lossG: res.lossG, dFake: res.dFake, grad };
  }

  async streamWeights(call?: CallOptions): Promise<DiscriminatorWeights> {
    const chunks = this.rpc.serverStream<object, WeightsChunk__Output>('StreamWeights', {}, this.rpc.deadline('weights', call));
    return chunksToSnapshot(chunks, 'discriminator');
  }

  async loadWeights(w: DiscriminatorWeights, call?: CallOptions): Promise<{ tensorCount: number; totalBytes: number }> {
    const chunks = snapshotToChunks({ snapshot: w.snapshot, lastApplied: { ...w.lastApplied } });
    const res = await this.rpc.clientStream<object, LoadWeightsResponse__Output>('LoadWeights', chunks, this.rpc.deadline('weights', call));
    return { tensorCount: res.tensorCount, totalBytes: Number(res.totalBytes) };
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return this.rpc.waitForReady(timeoutMs);
  }

  close(): void {
    this.rpc.close();
  }
}
