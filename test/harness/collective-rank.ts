// One rank of a ring in its own process, driven by JSON lines on stdin, answering JSON lines on
// stdout (used by the multi-process collective test and bench/allreduce.ts):
//   <- {"event":"listening","port":P}                               on start (127.0.0.1, port 0)
//   -> {"cmd":"group", runId, generation, rank, size, addresses, chunkBytes?, maxChunksInFlight?, collectiveMs?}
//   <- {"event":"group"}                                             once connected to the right
//   -> {"cmd":"allreduce", op:"sum"|"mean", step, elements, repeat, inPlace?}  input[i] = rank + i % 7 (float32)
//   <- {"event":"allreduce", seconds:[...], cpuSeconds:[...], checksum, head:[4 values]}  wall and CPU (user + system) seconds of each call
//   -> {"cmd":"close"}  <- {"event":"closed"};   -> {"cmd":"exit"}
// A failure answers {"event":"error", name, kind, rank, peerRank, phase, message}.
import { createInterface } from 'node:readline';
import { createServer } from '../../services/wire/server.ts';
import { CollectiveEndpoint, RingGroup } from '../../services/collective/index.ts';

const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

interface GroupCmd { cmd: 'group'; runId: string; generation: number; rank: number; size: number; addresses: string[];
  chunkBytes?: number; maxChunksInFlight?: number; collectiveMs?: number }
interface AllReduceCmd { cmd: 'allreduce'; op: 'sum' | 'mean'; step: number; elements: number; repeat: number; inPlace?: boolean }
type Cmd = GroupCmd | AllReduceCmd | { cmd: 'close' } | { cmd: 'exit' };

const server = createServer({ reflection: false });
const endpoint = new CollectiveEndpoint();
endpoint.addToServer(server);
const port = await server.listen(0);
server.setServing(true);
print({ event: 'listening', port });

let group: RingGroup | undefined;

async function handle(c: Cmd): Promise<void> {
  if (c.cmd === 'group') {
    group = new RingGroup({ runId: c.runId, generation: c.generation, rank: c.rank, size: c.size, addresses: c.addresses, endpoint,
      chunkBytes: c.chunkBytes, maxChunksInFlight: c.maxChunksInFlight, timeouts: { collectiveMs: c.collectiveMs } });
    await group.connect();
    print({ event: 'group' });
  } else if (c.cmd === 'allreduce') {
    const g = group!;
    const input = new Float32Array(c.elements);
    for (let i = 0; i < input.length; i++) input[i] = g.rank + (i % 7);
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    let out: Float32Array = input;
    for (let i = 0; i < c.repeat; i++) {
      const [t0, cpu0] = [performance.now(), process.cpuUsage()];
      // In place, a repeated mean leaves the values as they are (a sum grows by N each time).
      const opts = { inPlace: c.inPlace ?? false };
      out = c.op === 'mean' ? await g.allReduceMean(c.step, input, opts) : await g.allReduceSum(c.step, input, opts);
      seconds.push((performance.now() - t0) / 1000);
      const cpu = process.cpuUsage(cpu0);
      cpuSeconds.push((cpu.user + cpu.system) / 1e6);
    }
    let checksum = 0;
    for (let i = 0; i < out.length; i++) checksum += out[i];
    print({ event: 'allreduce', seconds, cpuSeconds, checksum, head: [...out.subarray(0, 4)] });
  } else if (c.cmd === 'close') {
    await group?.close();
    print({ event: 'closed' });
  } else {
    await server.shutdown({ graceMs: 200 });
    process.exit(0);
  }
}

// Commands run one at a time, in order.
let chain = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(() => handle(JSON.parse(line) as Cmd)).catch((err: Error & Record<string, unknown>) => {
    print({ event: 'error', name: err.name, kind: err.kind, rank: err.rank, peerRank: err.peerRank, phase: err.phase, message: err.message });
  });
});
