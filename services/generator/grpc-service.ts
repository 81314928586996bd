// The generator's gRPC edge: GeneratorService over a GeneratorNode, and GeneratorClient, its typed
// client. The service adds no math: each RPC validates what it received against the model's
// shapes and calls exactly one GeneratorNode method, so a distributed run computes what the
// in-process run computes, bit for bit (FLOAT32 on the wire).
import { tf } from '../core/tf.ts';
import type { GeneratorNode } from '../core/gan/generator-node.ts';
import type { GenerateRequest__Output } from '../wire/generated/gantry/v1/GenerateRequest.ts';
import type { GenerateResponse, GenerateResponse__Output } from '../wire/generated/gantry/v1/GenerateResponse.ts';
import type { ApplyUpstreamRequest, ApplyUpstreamRequest__Output } from '../wire/generated/gantry/v1/ApplyUpstreamRequest.ts';
import type { ApplyUpstreamResponse, ApplyUpstreamResponse__Output } from '../wire/generated/gantry/v1/ApplyUpstreamResponse.ts';
import type { WeightsChunk__Output } from '../wire/generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse, LoadWeightsResponse__Output } from '../wire/generated/gantry/v1/LoadWeightsResponse.ts';
import { GENERATOR_SERVICE } from '../wire/proto.ts';
import { clientStream, serverStream, unary, type GantryServer } from '../wire/server.ts';
import { RpcClient, type CallOptions, type ClientOptions } from '../wire/client.ts';
import { decodeTensor, encodeTensor, type WireDType } from '../wire/tensor-codec.ts';
import { checkResponseDType, checkStepId, toWireId, type StepId } from '../wire/step-id.ts';
import { RequestValidationError } from '../wire/errors.ts';
import { chunksToSnapshot, loadSummary, snapshotToChunks, WEIGHTS_CHUNK_BYTES } from '../wire/weights-stream.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { Metrics } from '../telemetry/metrics.ts';

/** What the service uses of a GeneratorNode. */
export type GeneratorNodeApi = Pick<GeneratorNode, 'cfg' | 'model' | 'generate' | 'applyUpstream' | 'snapshot' | 'restore' | 'lastAppliedIteration'>;

export interface GeneratorServiceOptions {
  /** Reject calls whose id.run_id differs (FAILED_PRECONDITION); unset accepts any. */
  runId?: string;
  /** Encodings accepted for received gradients; default FLOAT32 only. */
  acceptDTypes?: readonly WireDType[];
  /** Step durations (phases generate, g_step). Results are returned: the caller records them. */
  metrics?: Metrics;
  /** Slice size of StreamWeights; default 1 MiB. */
  chunkBytes?: number;
}

export interface GeneratorWeights {
  snapshot: ModelSnapshot;
  /** The last G-step included in the weights; -1 before any. */
  lastAppliedIteration: number;
}

export class GeneratorGrpcService {
  constructor(
    readonly node: GeneratorNodeApi,
    private readonly opts: GeneratorServiceOptions = {},
  ) {}

  addToServer(server: GantryServer): void {
    server.addService(GENERATOR_SERVICE, {
      Generate: unary((req: GenerateRequest__Output) => this.generate(req)),
      ApplyUpstreamGradient: unary((req: ApplyUpstreamRequest__Output) => this.applyUpstream(req)),
      StreamWeights: serverStream(() => snapshotToChunks(
        { snapshot: this.node.snapshot(), lastApplied: { iteration: this.node.lastAppliedIteration, step: -1 } },
        this.opts.chunkBytes ?? WEIGHTS_CHUNK_BYTES)),
      LoadWeights: clientStream((chunks: AsyncIterable<WeightsChunk__Output>) => this.loadWeights(chunks)),
    });
  }

  private generate(req: GenerateRequest__Output): GenerateResponse {
    const { cfg } = this.node;
    const id = checkStepId(req.id, { runId: this.opts.runId, minStep: 0, maxStep: cfg.dSteps });
    if (req.batchSize !== 0 && req.batchSize !== cfg.batchSize) {
      throw new RequestValidationError('batch_size', `${cfg.batchSize} (the configured batch size) or 0`, String(req.batchSize));
    }
    const dtype = checkResponseDType(req.responseDtype);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'generate' });
    const images = this.node.generate(id.iteration, id.step); // (B, 28, 28, 1)
    try {
      return { images: encodeTensor(images.dataSync() as Float32Array, images.shape, dtype) };
    } finally {
      images.dispose();
      end?.();
    }
  }

  private applyUpstream(req: ApplyUpstreamRequest__Output): ApplyUpstreamResponse {
    const { cfg, model } = this.node;
    const id = checkStepId(req.id, { runId: this.opts.runId, minStep: cfg.dSteps, maxStep: cfg.dSteps });
    const grad = decodeTensor(req.grad, 'grad', { shape: [cfg.batchSize, ...model.outputShape], dtypes: this.opts.acceptDTypes });
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'g_step' });
    const upstream = tf.tensor4d(grad.data, grad.shape as [number, number, number, number]); // (B, 28, 28, 1)
    try {
      const { applied, gradNorm } = this.node.applyUpstream(id.iteration, upstream);
      return { applied, gradNorm };
    } finally {
      upstream.dispose();
      end?.();
    }
  }

  private async loadWeights(chunks: AsyncIterable<WeightsChunk__Output>): Promise<LoadWeightsResponse> {
    const { snapshot, lastApplied } = await chunksToSnapshot(chunks, 'generator');
    this.node.restore(snapshot, lastApplied.iteration);
    return loadSummary(snapshot);
  }
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

  /** G(z) for `id`: (batchSize, 28, 28, 1) values, row-major. */
  async generate(id: StepId, batchSize: number, call?: CallOptions): Promise<Float32Array> {
    const encoding = this.opts.encoding ?? 'FLOAT32';
    const res = await this.rpc.unary<object, GenerateResponse__Output>('Generate',
      { id: toWireId(id), batchSize, responseDtype: encoding }, this.rpc.deadline('call', call));
    const dtypes: WireDType[] = ['FLOAT32', encoding];
    return decodeTensor(res.images, 'images', { shape: [batchSize || null, ...this.imageShape], dtypes }).data;
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
