// The generator's gRPC edge: GeneratorService over a GeneratorNode (its typed client is
// services/wire/generator-client.ts). The service adds no math: each RPC validates what it received against the model's
// shapes and calls exactly one GeneratorNode method, so a distributed run computes what the
// in-process run computes, bit for bit (FLOAT32 on the wire). The state-changing RPCs
// (ApplyUpstreamGradient, LoadWeights) run only for the step the scheduler armed in their
// StepGate (services/wire/step-gate.ts); a retry of an applied iteration answers applied=false.
import { tf } from '../core/tf.ts';
import type { GeneratorNode } from '../core/gan/generator-node.ts';
import type { GenerateRequest__Output } from '../wire/generated/gantry/v1/GenerateRequest.ts';
import type { GenerateResponse } from '../wire/generated/gantry/v1/GenerateResponse.ts';
import type { ApplyUpstreamRequest__Output } from '../wire/generated/gantry/v1/ApplyUpstreamRequest.ts';
import type { ApplyUpstreamResponse } from '../wire/generated/gantry/v1/ApplyUpstreamResponse.ts';
import type { WeightsChunk__Output } from '../wire/generated/gantry/v1/WeightsChunk.ts';
import type { LoadWeightsResponse } from '../wire/generated/gantry/v1/LoadWeightsResponse.ts';
import { GENERATOR_SERVICE } from '../wire/proto.ts';
import { clientStream, serverStream, unary, type GantryServer } from '../wire/server.ts';
import { decodeTensor, encodeTensor, type WireDType } from '../wire/tensor-codec.ts';
import { checkResponseDType, checkStepId } from '../wire/step-id.ts';
import { RequestValidationError } from '../wire/errors.ts';
import { checkSameArch, chunksToSnapshot, loadSummary, snapshotToChunks, WEIGHTS_CHUNK_BYTES } from '../wire/weights-stream.ts';
import type { DataPlaneGates } from '../wire/step-gate.ts';
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
  /** Which ApplyUpstreamGradient and LoadWeights step the scheduler armed (dataPlaneGates('generator', 'ApplyUpstreamGradient')). */
  gates: DataPlaneGates;
}

export class GeneratorGrpcService {
  constructor(
    readonly node: GeneratorNodeApi,
    private readonly opts: GeneratorServiceOptions,
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
    // A retry of an applied iteration changes nothing (the node answers applied=false); anything
    // else must be the step the scheduler armed.
    const retry = id.iteration <= this.node.lastAppliedIteration;
    if (!retry) this.opts.gates.update.check(id.iteration, id.step);
    const end = this.opts.metrics?.stepDuration.startTimer({ phase: 'g_step' });
    const upstream = tf.tensor4d(grad.data, grad.shape as [number, number, number, number]); // (B, 28, 28, 1)
    try {
      const { applied, gradNorm } = this.node.applyUpstream(id.iteration, upstream);
      if (applied) this.opts.gates.update.consume();
      return { applied, gradNorm };
    } finally {
      upstream.dispose();
      end?.();
    }
  }

  /** Reads and checks the whole stream, then restores all or nothing (GeneratorNode.restore). */
  private async loadWeights(chunks: AsyncIterable<WeightsChunk__Output>): Promise<LoadWeightsResponse> {
    const gate = this.opts.gates.load;
    gate.requireArmed(); // before reading megabytes from a caller nobody armed
    const { snapshot, lastApplied } = await chunksToSnapshot(chunks, 'generator');
    checkSameArch(this.node.model, snapshot);
    gate.check(lastApplied.iteration, lastApplied.step);
    this.node.restore(snapshot, lastApplied.iteration);
    gate.consume();
    return loadSummary(snapshot);
  }
}

