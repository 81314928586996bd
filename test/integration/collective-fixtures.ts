// N ranks of a ring in this process: a real gRPC server on port 0 per rank, each with a
// CollectiveEndpoint, and a RingGroup per rank.
import { createServer, type GantryServer } from '../../services/wire/server.ts';
import { CollectiveEndpoint, RingGroup, type RingGroupOptions } from '../../services/collective/index.ts';
import { RingPlan } from '../../services/collective/ring-plan.ts';

export interface Ring {
  servers: GantryServer[];
  endpoints: CollectiveEndpoint[];
  addresses: string[];
  groups: RingGroup[];
  /** Closes every group, then the servers. */
  stop(): Promise<void>;
}

export type GroupOverrides = Partial<Omit<RingGroupOptions, 'rank' | 'size' | 'addresses' | 'endpoint'>>;

export async function startServers(size: number): Promise<Pick<Ring, 'servers' | 'endpoints' | 'addresses'>> {
  const servers: GantryServer[] = [];
  const endpoints: CollectiveEndpoint[] = [];
  const addresses: string[] = [];
  for (let r = 0; r < size; r++) {
    const server = createServer({ reflection: false });
    const endpoint = new CollectiveEndpoint();
    endpoint.addToServer(server);
    addresses.push(`127.0.0.1:${await server.listen(0)}`);
    server.setServing(true);
    servers.push(server);
    endpoints.push(endpoint);
  }
  return { servers, endpoints, addresses };
}

export function makeGroups(base: Pick<Ring, 'endpoints' | 'addresses'>, opts: GroupOverrides = {}): RingGroup[] {
  const size = base.addresses.length;
  return base.addresses.map((_, rank) => new RingGroup({
    runId: 'run-a', generation: 1, ...opts, rank, size, addresses: base.addresses, endpoint: base.endpoints[rank],
  }));
}

export async function startRing(size: number, opts: GroupOverrides = {}): Promise<Ring> {
  const base = await startServers(size);
  const groups = makeGroups(base, opts);
  return {
    ...base, groups,
    async stop() {
      await Promise.all(groups.map((g) => g.close()));
      await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
    },
  };
}

/** Polls until every endpoint has no open stream (closing streams takes a few event-loop turns). */
export async function streamsDrained(endpoints: CollectiveEndpoint[], limitMs = 5_000): Promise<number[]> {
  const until = Date.now() + limitMs;
  while (Date.now() < until && endpoints.some((e) => e.streamCount > 0)) await new Promise((r) => setTimeout(r, 20));
  return endpoints.map((e) => e.streamCount);
}

/** Deterministic float32 values in [-1, 1) (a small LCG; no Math.random in tests). */
export function randomBuffer(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x / 2 ** 31 - 1;
  }
  return out;
}

/** The ring's fixed order: segment s sums x[s] + x[s+1] + ... + x[s-1] (ranks mod N), rounding to float32 after each add. */
export function fixedOrderReference(inputs: Float32Array[], mean: boolean): Float32Array {
  const size = inputs.length;
  const plan = new RingPlan(inputs[0].length, size, 1);
  const ref = new Float32Array(inputs[0].length);
  for (let s = 0; s < size; s++) {
    for (let i = plan.segmentStart(s); i < plan.segmentStart(s + 1); i++) {
      let sum = inputs[s][i];
      for (let k = 1; k < size; k++) sum = Math.fround(sum + inputs[(s + k) % size][i]);
      ref[i] = mean ? Math.fround(sum / size) : sum;
    }
  }
  return ref;
}
