// The discriminator's gRPC edge: DiscriminatorService over a DiscriminatorNode, and
// DiscriminatorClient, its typed client. TrainStep receives the fake batch; the real batch comes
// from the node's own data (node.realBatch(t, s)) and never crosses the wire. Each RPC validates
// what it received against the model's shapes and calls exactly one DiscriminatorNode method.
import { tf } from '../core/tf.ts';
import type { DiscriminatorNode, DStepMetrics as CoreDStepMetrics, StepKey } from '../core/gan/discriminator-node.ts';
import type { TrainStepRequest, TrainStepRequest__Output } from '../wire/generated/gantry/v1/TrainStepRequest.ts';
import type { DStepMetrics, DStepMetrics__Output } from '../wire/generated/gantry/v1/DStepMetrics.ts';
import type { GeneratorGradRequest, GeneratorGradRequest__Output } from '../wire/generated/gantry/v1/GeneratorGradRequest.ts';
import type { GeneratorGradResponse, GeneratorGradResponse__Output } from '../wire/generated/gantry/v1/GeneratorGradResponse.ts';
import type { WeightsChunk__Output } from '../wire/generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse, LoadWeightsResponse__Output } from '../wire/generated/gantry/v1/LoadWeightsResponse.ts';
import { DISCRIMINATOR_SERVICE } from '../wire/proto.ts';
import { clientStream, serverStream, unary, type GantryServer } from '../wire/server.ts';
import { RpcClient, type CallOptions, type ClientOptions } from '../wire/client.ts';
import { decodeTensor, encodeTensor, type DecodedTensor, type WireDType } from '../wire/tensor-codec.ts';
import { checkResponseDType, checkStepId, toWireId, type StepId } from '../wire/step-id.ts';
import { chunksToSnapshot, loadSummary, snapshotToChunks, WEIGHTS_CHUNK_BYTES } from '../wire/weights-stream.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { Metrics } from '../telemetry/metrics.ts';

/** What the service uses of a DiscriminatorNode. */
export type DiscriminatorNodeApi = Pick<DiscriminatorNode,
  'cfg' | 'model' | 'realBatch' | 'trainStep' | 'generatorGrad' | 'snapshot' | 'restore' | 'lastApplied'>;

export interface DiscriminatorServiceOptions {
  /** Reject calls whose id.run_id differs (FAILED_PRECONDITION); unset accepts any. */
  runId?: string;
  /** Encodings accepted for received fake batches; default FLOAT32 only. */
  acceptDTypes?: readonly WireDType[];
  /** Step durations (phases d_step, gen_grad). Losses and outputs are returned: the caller records them. */
  metrics?: Metrics;
  /** Slice size of StreamWeights; default 1 MiB. */
  chunkBytes?: number;
}

export interface DiscriminatorWeights {
  snapshot: ModelSnapshot;
  /** The last D-step included in the weights; {-1, -1} before any. */
  lastApplied: StepKey;
}

export interface GeneratorGradResult {
  lossG: number;
  dFake: number;
  /** dL_G/dfake, (B, 28, 28, 1) row-major. */
  grad: Float32Array;
}

type Shape4 = [number, number, number, number];

export class DiscriminatorGrpcService {
  constructor(
    readonly node: DiscriminatorNodeApi,
    private readonly opts: DiscriminatorServiceOptions = {},
  ) {}

  addToServer(server: GantryServer): void {
    server.addService(DISCRIMINATOR_SERVICE, {
      TrainStep: unary((req: TrainStepRequest__Output) => this.trainStep(req)),
      GeneratorGrad: unary((req: GeneratorGradRequest__Output) => this.generatorGrad(req)),
      StreamWeights: serverStream(() => snapshotToChunks(
        { snapshot: this.node.snapshot(), lastApplied: { ...this.node.lastApplied } },
        this.opts.chunkBytes ?? WEIGHTS_CHUNK_BYTES)),
      LoadWeights: clientStream((chunks: AsyncIterable<WeightsChunk__Output>) => this.loadWeights(chunks)),
    });
  }

  /** The fake batch of a request, checked against (B, ...D's input shape). */
  private fake(msg: TrainStepRequest__Output['fake']): DecodedTensor {
    const { cfg, model } = this.node;
    return decodeTensor(msg, 'fake', { shape: [cfg.batchSize, ...model.inputShape], dtypes: this.opts.acceptDTypes });
  }

  private trainStep(req: TrainStepRequest__Output): DStepMetrics {
    const id = checkStepId(req.id, { runId: this.opts.runId, minStep: 0, maxStep: this.node.cfg.dSteps - 1 });
    const fake = this.fake(req.fake);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'd_step' });
    const fakeT = tf.tensor4d(fake.data, fake.shape as Shape4); // (B, 28, 28, 1)
    const real = this.node.realBatch(id.iteration, id.step); // (B, 28, 28, 1)
    try {
      const m = this.node.trainStep(id.iteration, id.step, real, fakeT);
      return { lossD: m.lossD, dReal: m.dReal, dFake: m.dFake, applied: m.applied, ...(m.gp === undefined ? {} : { gp: m.gp }) };
    } finally {
      tf.dispose([fakeT, real]);
      end?.();
    }
  }

  private generatorGrad(req: GeneratorGradRequest__Output): GeneratorGradResponse {
    const { cfg } = this.node;
    const id = checkStepId(req.id, { runId: this.opts.runId, minStep: cfg.dSteps, maxStep: cfg.dSteps });
    const dtype = checkResponseDType(req.responseDtype);
    const fake = this.fake(req.fake);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'gen_grad' });
    const fakeT = tf.tensor4d(fake.data, fake.shape as Shape4); // (B, 28, 28, 1)
    try {
      const { lossG, dFake, grad } = this.node.generatorGrad(id.iteration, fakeT);
      try {
        return { lossG, dFake, grad: encodeTensor(grad.dataSync() as Float32Array, grad.shape, dtype) };
      } finally {
        grad.dispose();
      }
    } finally {
      fakeT.dispose();
      end?.();
    }
  }

  private async loadWeights(chunks: AsyncIterable<WeightsChunk__Output>): Promise<LoadWeightsResponse> {
    const { snapshot, lastApplied } = await chunksToSnapshot(chunks, 'discriminator');
    this.node.restore(snapshot, lastApplied);
    return loadSummary(snapshot);
  }
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
