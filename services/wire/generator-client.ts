// GeneratorClient: typed calls to a gantry.v1.GeneratorService (the discriminator's D-steps ask it
// for G(z); tests and tools stream its weights). Every call has a deadline.
import type { GenerateResponse__Output } from './generated/gantry/v1/GenerateResponse.ts';
import type { ApplyUpstreamRequest } from './generated/gantry/v1/ApplyUpstreamRequest.ts';
import type { ApplyUpstreamResponse__Output } from './generated/gantry/v1/ApplyUpstreamResponse.ts';
import type { WeightsChunk__Output } from './generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse__Output } from './generated/gantry/v1/LoadWeightsResponse.ts';
import { GENERATOR_SERVICE } from './proto.ts';
import { RpcClient, type CallOptions, type ClientOptions } from './client.ts';
import { decodeTensor, encodeTensor, IMAGE_RANGE, type WireDType } from './tensor-codec.ts';
import { toWireId, type StepId } from './step-id.ts';
import { chunksToSnapshot, snapshotToChunks } from './weights-stream.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';

export interface GeneratorWeights {
  snapshot: ModelSnapshot;
  /** The last G-step included in the weights; -1 before any. */
  lastAppliedIteration: number;
}

export interface GeneratorClientOptions extends ClientOptions {
  /** Encoding of tensors sent and asked for; default FLOAT32 (exact). */
  encoding?: WireDType;
  /** Image shape without the batch dimension; default [28, 28, 1]. */
  imageShape?: readonly number[];
}

/** Typed calls to a GeneratorService; every call has a deadline (ClientOptions, or per call). */
export class GeneratorClient {
  private readonly rpc: RpcClient;
  private readonly imageShape: readonly number[];

  constructor(address: string, private readonly opts: GeneratorClientOptions = {}) {
    this.rpc = new RpcClient(address, GENERATOR_SERVICE, opts);
    this.imageShape = opts.imageShape ?? [28, 28, 1];
  }

  get address(): string {
    return this.rpc.address;
  }

  /** G(z) for `id`: (batchSize, 28, 28, 1) values in [-1, 1], row-major (checked: TensorValidationError naming `images` otherwise). */
  async generate(id: StepId, batchSize: number, call?: CallOptions): Promise<Float32Array> {
    const encoding = this.opts.encoding ?? 'FLOAT32';
    const res = await this.rpc.unary<object, GenerateResponse__Output>('Generate',
      { id: toWireId(id), batchSize, responseDtype: encoding }, this.rpc.deadline('call', call));
    const dtypes: WireDType[] = ['FLOAT32', encoding];
    return decodeTensor(res.images, 'images', { shape: [batchSize || null, ...this.imageShape], dtypes, range: IMAGE_RANGE }).data;
  }

  /** Sends dL_G/dG(z') (B, 28, 28, 1); applied=false when the iteration was already applied. */
  async applyUpstream(id: StepId, grad: Float32Array, call?: CallOptions): Promise<{ applied: boolean; gradNorm: number }> {
    const per = this.imageShape.reduce((n, d) => n * d, 1);
    if (grad.length % per !== 0) {
      throw new RangeError(`applyUpstream: grad has ${grad.length} values, not a multiple of ${per} (one image [${this.imageShape.join(', ')}])`);
    }
    const req: ApplyUpstreamRequest = {
      id: toWireId(id), grad: encodeTensor(grad, [grad.length / per, ...this.imageShape], this.opts.encoding),
    };
    const res = await this.rpc.unary<ApplyUpstreamRequest, ApplyUpstreamResponse__Output>('ApplyUpstreamGradient', req,
      this.rpc.deadline('call', call));
    return { applied: res.applied, gradNorm: res.gradNorm };
  }

  async streamWeights(call?: CallOptions): Promise<GeneratorWeights> {
    const chunks = this.rpc.serverStream<object, WeightsChunk__Output>('StreamWeights', {}, this.rpc.deadline('weights', call));
    const { snapshot, lastApplied } = await chunksToSnapshot(chunks, 'generator');
    return { snapshot, lastAppliedIteration: lastApplied.iteration };
  }

  async loadWeights(w: GeneratorWeights, call?: CallOptions): Promise<{ tensorCount: number; totalBytes: number }> {
    const chunks = snapshotToChunks({ snapshot: w.snapshot, lastApplied: { iteration: w.lastAppliedIteration, step: -1 } });
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
