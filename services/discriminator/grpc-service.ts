// The discriminator's gRPC edge: DiscriminatorService over a DiscriminatorNode (its typed client
// is services/wire/discriminator-client.ts). TrainStep receives the fake batch; the real batch comes
// from the node's own data (node.realBatch(t, s)) and never crosses the wire. Each RPC validates
// what it received against the model's shapes and ranges (fake images in [-1, 1]) and calls
// exactly one DiscriminatorNode method. The state-changing RPCs (TrainStep, LoadWeights) run only
// for the step the scheduler armed in their StepGate (services/wire/step-gate.ts); a retry of an
// applied step answers applied=false.
import { tf } from '../core/tf.ts';
import type { DiscriminatorNode } from '../core/gan/discriminator-node.ts';
import type { TrainStepRequest__Output } from '../wire/generated/gantry/v1/TrainStepRequest.ts';
import type { DStepMetrics } from '../wire/generated/gantry/v1/DStepMetrics.ts';
import type { GeneratorGradRequest__Output } from '../wire/generated/gantry/v1/GeneratorGradRequest.ts';
import type { GeneratorGradResponse } from '../wire/generated/gantry/v1/GeneratorGradResponse.ts';
import type { WeightsChunk__Output } from '../wire/generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse } from '../wire/generated/gantry/v1/LoadWeightsResponse.ts';
import { DISCRIMINATOR_SERVICE } from '../wire/proto.ts';
import { clientStream, serverStream, unary, type GantryServer } from '../wire/server.ts';
import { decodeTensor, encodeTensor, IMAGE_RANGE, type DecodedTensor, type WireDType } from '../wire/tensor-codec.ts';
import { checkResponseDType, checkStepId } from '../wire/step-id.ts';
import { checkSameArch, chunksToSnapshot, loadSummary, snapshotToChunks, WEIGHTS_CHUNK_BYTES } from '../wire/weights-stream.ts';
import type { DataPlaneGates } from '../wire/step-gate.ts';
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
  /** Which TrainStep and LoadWeights step the scheduler armed (dataPlaneGates('discriminator', 'TrainStep')). */
  gates: DataPlaneGates;
}

type Shape4 = [number, number, number, number];

export class DiscriminatorGrpcService {
  constructor(
    readonly node: DiscriminatorNodeApi,
    private readonly opts: DiscriminatorServiceOptions,
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
    return decodeTensor(msg, 'fake', { shape: [cfg.batchSize, ...model.inputShape], dtypes: this.opts.acceptDTypes, range: IMAGE_RANGE });
  }

  private trainStep(req: TrainStepRequest__Output): DStepMetrics {
    const id = checkStepId(req.id, { runId: this.opts.runId, minStep: 0, maxStep: this.node.cfg.dSteps - 1 });
    const fake = this.fake(req.fake);
    // A retry of an applied step changes nothing (the node answers applied=false); anything else
    // must be the step the scheduler armed.
    const last = this.node.lastApplied;
    const retry = id.iteration < last.iteration || (id.iteration === last.iteration && id.step <= last.step);
    if (!retry) this.opts.gates.update.check(id.iteration, id.step);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'd_step' });
    const fakeT = tf.tensor4d(fake.data, fake.shape as Shape4); // (B, 28, 28, 1)
    const real = this.node.realBatch(id.iteration, id.step); // (B, 28, 28, 1)
    try {
      const m = this.node.trainStep(id.iteration, id.step, real, fakeT);
      if (m.applied) this.opts.gates.update.consume();
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

  /** Reads and checks the whole stream, then restores all or nothing (DiscriminatorNode.restore). */
  private async loadWeights(chunks: AsyncIterable<WeightsChunk__Output>): Promise<LoadWeightsResponse> {
    const gate = this.opts.gates.load;
    gate.requireArmed(); // before reading megabytes from a caller nobody armed
    const { snapshot, lastApplied } = await chunksToSnapshot(chunks, 'discriminator');
    checkSameArch(this.node.model, snapshot);
    gate.check(lastApplied.iteration, lastApplied.step);
    this.node.restore(snapshot, lastApplied);
    gate.consume();
    return loadSummary(snapshot);
  }
}

