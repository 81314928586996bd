// Shared set-up of the grpc-*.test.ts files: a tiny MLP GAN config on the cpu backend, and real
// gRPC servers on port 0 hosting the real GeneratorNode / DiscriminatorNode.
import { tf } from '../../services/core/tf.ts';
import { ganArch } from '../../services/core/presets.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';
import { GeneratorNode } from '../../services/core/gan/generator-node.ts';
import { DiscriminatorNode } from '../../services/core/gan/discriminator-node.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import { createServer, type GantryServer, type ServerOptions } from '../../services/wire/server.ts';
import { GeneratorGrpcService, type GeneratorServiceOptions } from '../../services/generator/grpc-service.ts';
import { DiscriminatorGrpcService, type DiscriminatorServiceOptions } from '../../services/discriminator/grpc-service.ts';
import { GeneratorClient, type GeneratorClientOptions } from '../../services/wire/generator-client.ts';
import { DiscriminatorClient, type DiscriminatorClientOptions } from '../../services/wire/discriminator-client.ts';
import { dataPlaneGates, type DataPlaneGates } from '../../services/wire/step-gate.ts';

export const RUN = 'run-test';

export const ganConfig = (over: Partial<GanMathConfig> = {}): GanMathConfig => ({
  arch: ganArch('mlp', { zDim: 8, gWidth: 16, dWidth: 16 }), loss: 'nonsaturating', batchSize: 4, dSteps: 2,
  seed: 11, lrG: 1e-3, lrD: 1e-3, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0, ...over,
});

let data: ImageSet | undefined;

/** cpu backend (exact, deterministic) and the bundled MNIST test split. */
export async function setUp(): Promise<ImageSet> {
  await tf.setBackend('cpu');
  data ??= await loadImageSet({ split: 'test' });
  return data;
}

export interface Served<C> {
  server: GantryServer;
  client: C;
  address: string;
  /** The service's step gates: a test arms a step as the scheduler's command handler would. */
  gates: DataPlaneGates;
  /** Arms the update method for (t, s) of generation 1, as a scheduler command would. */
  arm(iteration: number, step: number): void;
  close(): Promise<void>;
}

const armer = (gates: DataPlaneGates) => (iteration: number, step: number): void => gates.update.arm({ generation: 1, iteration, step });

export async function serveGenerator(
  node: GeneratorNode, opts: { server?: ServerOptions; service?: Partial<GeneratorServiceOptions>; client?: GeneratorClientOptions } = {},
): Promise<Served<GeneratorClient>> {
  const server = createServer(opts.server);
  const gates = opts.service?.gates ?? dataPlaneGates('generator', 'ApplyUpstreamGradient');
  new GeneratorGrpcService(node, { runId: RUN, ...opts.service, gates }).addToServer(server);
  const address = `127.0.0.1:${await server.listen(0)}`;
  server.setServing(true);
  const client = new GeneratorClient(address, { deadlineMs: 20_000, ...opts.client });
  return { server, client, address, gates, arm: armer(gates), close: async () => { client.close(); await server.shutdown({ graceMs: 500 }); } };
}

export async function serveDiscriminator(
  node: DiscriminatorNode, opts: { server?: ServerOptions; service?: Partial<DiscriminatorServiceOptions>; client?: DiscriminatorClientOptions } = {},
): Promise<Served<DiscriminatorClient>> {
  const server = createServer(opts.server);
  const gates = opts.service?.gates ?? dataPlaneGates('discriminator', 'TrainStep');
  new DiscriminatorGrpcService(node, { runId: RUN, ...opts.service, gates }).addToServer(server);
  const address = `127.0.0.1:${await server.listen(0)}`;
  server.setServing(true);
  const client = new DiscriminatorClient(address, { deadlineMs: 20_000, ...opts.client });
  return { server, client, address, gates, arm: armer(gates), close: async () => { client.close(); await server.shutdown({ graceMs: 500 }); } };
}

/** Every weight, batch-norm statistic and Adam slot of a node, as bit patterns. */
export function stateBits(node: { snapshot(): ReturnType<GeneratorNode['snapshot']> }): Record<string, number[]> {
  const s = node.snapshot();
  const out: Record<string, number[]> = { step: [s.optimizer.step] };
  for (const t of [...s.tensors, ...s.optimizer.slots]) out[t.name] = Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));
  return out;
}

export const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

export { GeneratorNode, DiscriminatorNode };
