// The discriminator's gRPC edge: DiscriminatorService over a DiscriminatorNode (its typed client
// is services/wire/discriminator-client.ts). TrainStep receives the fake batch; the real batch comes
// from the node's own data (node.realBatch(t, s)) and never crosses the wire. Each RPC validates
// what it received against the model's shapes and ranges (fake images in [-1, 1]) and calls
// exactly one DiscriminatorNode method. The state-changing RPCs (TrainStep, LoadWeights) run only
// for the step the scheduler armed in their StepGate (services/wire/step-gate.ts); a retry of an
// applied step answers applied=false.
// In a replica group (replicas.ts) GeneratorGrad is the G-step's fan-out: rank 0 takes the whole
// batch (B rows) from the generator, hands rows [r b, (r + 1) b) to rank r over the same RPC, and
// answers the N slices of dL_G/dfake concatenated in rank order; ranks >= 1 take their b rows.
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
import { asPeerFailure, type DiscriminatorReplicas } from './replicas.ts';

/** What the service uses of a DiscriminatorNode. */
export type DiscriminatorNodeApi = Pick<DiscriminatorNode,
  'cfg' | 'model' | 'realBatch' | 'trainStep' | 'replicaTrainStep' | 'soloGroup' | 'generatorGrad' | 'replicaGeneratorGrad' | 'snapshot' | 'restore' | 'lastApplied'>;

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
  /** This process's replica group, when the discriminator runs as one. */
  replicas?: DiscriminatorReplicas;
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

  /** The fake batch of a request, checked against (rows, ...D's input shape); rows default B. */
  private fake(msg: TrainStepRequest__Output['fake'], rows = this.node.cfg.batchSize): DecodedTensor {
    return decodeTensor(msg, 'fake', { shape: [rows, ...this.node.model.inputShape], dtypes: this.opts.acceptDTypes, range: IMAGE_RANGE });
  }

  private async trainStep(req: TrainStepRequest__Output): Promise<DStepMetrics> {
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
      const solo = this.node.soloGroup; // exact sums on a lone discriminator
      const m = solo ? await this.node.replicaTrainStep(id.iteration, id.step, real, fakeT, solo) : this.node.trainStep(id.iteration, id.step, real, fakeT);
      if (m.applied) this.opts.gates.update.consume();
      return { lossD: m.lossD, dReal: m.dReal, dFake: m.dFake, applied: m.applied, ...(m.gp === undefined ? {} : { gp: m.gp }) };
    } finally {
      tf.dispose([fakeT, real]);
      end?.();
    }
  }

  private generatorGrad(req: GeneratorGradRequest__Output): GeneratorGradResponse | Promise<GeneratorGradResponse> {
    const { cfg } = this.node;
    const id = checkStepId(req.id, { runId: this.opts.runId, minStep: cfg.dSteps, maxStep: cfg.dSteps });
    const dtype = checkResponseDType(req.responseDtype);
    const replicas = this.opts.replicas;
    if (replicas) return this.replicaGeneratorGrad(req, replicas, id.iteration, dtype);
    const fake = this.fake(req.fake);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'gen_grad' });
    const fakeT = tf.tensor4d(fake.data, fake.shape as Shape4); // (B, 28, 28, 1)
    const solo = this.node.soloGroup; // exact sums on a lone discriminator
    if (solo) {
      return this.node.replicaGeneratorGrad(id.iteration, fakeT, solo).then(({ lossG, dFake, grad }) => {
        try {
          return { lossG, dFake, grad: encodeTensor(grad.dataSync() as Float32Array, grad.shape, dtype) };
        } finally {
          grad.dispose();
        }
      }).finally(() => {
        fakeT.dispose();
        end?.();
      });
    }
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

  /** GeneratorGrad on rank r of a group: rank 0 the whole batch (fanned out), rank r >= 1 its b = B / N rows. */
  private async replicaGeneratorGrad(req: GeneratorGradRequest__Output, replicas: DiscriminatorReplicas, t: number, dtype: WireDType): Promise<GeneratorGradResponse> {
    const { cfg, model } = this.node;
    const b = cfg.batchSize / replicas.size;
    const lead = replicas.rank === 0;
    const fake = this.fake(req.fake, lead ? cfg.batchSize : b);
    const per = model.inputShape.reduce((n, d) => n * d, 1);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'gen_grad' });
    // Rank 0: the other ranks' rows go out first; its own rows are computed meanwhile (the
    // collectives of the pass need every rank in it).
    const id = { runId: this.opts.runId ?? '', iteration: t, step: cfg.dSteps };
    const fanned = lead
      ? replicas.followers().map((c, i) => c.generatorGrad(id, fake.data.subarray((i + 1) * b * per, (i + 2) * b * per)))
      : [];
    for (const f of fanned) f.catch(() => undefined); // awaited below; a rejection before then is not unhandled
    const mine = tf.tensor4d(lead ? fake.data.subarray(0, b * per) : fake.data, [b, ...model.inputShape] as Shape4); // (b, 28, 28, 1)
    try {
      let result;
      try {
        result = await this.node.replicaGeneratorGrad(t, mine, replicas.group(t * (cfg.dSteps + 1) + cfg.dSteps));
      } catch (err) {
        throw asPeerFailure(err, `the G-step's dL/dG(z) of iteration ${t}`, replicas.rank);
      }
      const { lossG, dFake, grad } = result;
      let rows: Float32Array;
      try {
        rows = grad.dataSync() as Float32Array;
      } finally {
        grad.dispose();
      }
      if (!lead) return { lossG, dFake, grad: encodeTensor(rows, [b, ...model.inputShape], dtype) };
      // dL_G/dfake of the whole batch: the slices in rank order, (B, 28, 28, 1).
      const whole = new Float32Array(cfg.batchSize * per);
      whole.set(rows, 0);
      const others = await Promise.all(fanned);
      others.forEach((o, i) => whole.set(o.grad, (i + 1) * b * per));
      return { lossG, dFake, grad: encodeTensor(whole, [cfg.batchSize, ...model.inputShape], dtype) };
    } finally {
      mine.dispose();
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

