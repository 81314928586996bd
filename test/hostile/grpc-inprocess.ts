// The gRPC surface in this process: a real GeneratorNode and DiscriminatorNode behind real
// GantryServers on port 0 (a 2 MiB message limit, so oversized cases stay cheap), with their step
// gates in reach so cases can arm them as the scheduler would. One D-step (0, 0) and the G-step
// of iteration 0 are applied first, so stale and duplicate ids have something to repeat.
import { tf } from '../../services/core/tf.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { DISCRIMINATOR_SERVICE, GENERATOR_SERVICE, HEALTH_SERVICE } from '../../services/wire/proto.ts';
import { DiscriminatorNode, GeneratorNode, ganConfig, RUN, serveDiscriminator, serveGenerator, setUp } from '../integration/grpc-fixtures.ts';
import { stateHash } from '../harness/state-hash.ts';
import { grpcCases } from './grpc-cases.ts';
import { RawClient } from './raw-grpc.ts';
import type { Tally, Target } from './tally.ts';

const MAX_MESSAGE_BYTES = 2 << 20;

export async function runInProcessGrpc(tally: Tally, seed: number): Promise<void> {
  const data = await setUp();
  const cfg = ganConfig();
  const g = new GeneratorNode(cfg);
  const d = new DiscriminatorNode(cfg, data);
  const logger = createLogger({ component: 'hostile', level: 'error' });
  const server = { maxMessageBytes: MAX_MESSAGE_BYTES, logger };
  const gs = await serveGenerator(g, { server, client: { maxMessageBytes: 64 << 20 } });
  const ds = await serveDiscriminator(d, { server, client: { maxMessageBytes: 64 << 20 } });
  const raw = new RawClient();
  const healthClients = new Map<string, RpcClient>();
  try {
    const fake = tf.tidy(() => g.generate(0, 0).dataSync() as Float32Array);
    // The applied history stale cases repeat: D-step (0, 0), then G's iteration 0.
    ds.arm(0, 0);
    await ds.client.trainStep({ runId: RUN, iteration: 0, step: 0 }, fake);
    gs.arm(0, cfg.dSteps);
    await gs.client.applyUpstream({ runId: RUN, iteration: 0, step: cfg.dSteps }, new Float32Array(cfg.batchSize * 784).fill(1e-3));
    const target: Target = {
      stateHash: async () => `${stateHash(g)}/${stateHash(d)}`,
      health: () => servingHealth([[gs.address, GENERATOR_SERVICE], [ds.address, DISCRIMINATOR_SERVICE]], healthClients),
    };
    const cases = grpcCases({
      gen: gs.address, disc: ds.address, runId: RUN, B: cfg.batchSize, k: cfg.dSteps, fake, maxMessageBytes: MAX_MESSAGE_BYTES,
      weights: async (role) => (role === 'generator'
        ? { snapshot: g.snapshot(), lastApplied: { iteration: g.lastAppliedIteration, step: -1 } }
        : { snapshot: d.snapshot(), lastApplied: { ...d.lastApplied } }),
      arm: (role, gate, iteration, step) => (role === 'generator' ? gs : ds).gates[gate].arm({ generation: 1, iteration, step }),
      disarm: () => { for (const s of [gs, ds]) { s.gates.update.reset(); s.gates.load.reset(); } },
    }, raw, seed);
    await tally.runAll('grpc (in-process servers)', target, cases, 3);
  } finally {
    raw.close();
    for (const c of healthClients.values()) c.close();
    await gs.close();
    await ds.close();
    g.dispose();
    d.dispose();
  }
}

/** undefined when every (address, service) answers SERVING over a kept channel; else what answered. */
export async function servingHealth(services: [string, string][], clients: Map<string, RpcClient>): Promise<string | undefined> {
  for (const [addr, service] of services) {
    let client = clients.get(addr);
    if (!client) clients.set(addr, (client = new RpcClient(addr, HEALTH_SERVICE)));
    const status = await client.unary<{ service: string }, { status: string }>('Check', { service }, 5_000)
      .then((r) => r.status, (err: Error) => err.message);
    if (status !== 'SERVING') return `${service} at ${addr}: ${status}`;
  }
  return undefined;
}
