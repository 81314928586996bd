// The parent side of test/harness/collective-rank.ts: spawns rank processes, sends commands, and
// reads their JSON-line answers in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const RANK_MAIN = fileURLToPath(new URL('./collective-rank.ts', import.meta.url));

export type RankEvent = { event: string } & Record<string, unknown>;

export class RankProcess {
  private readonly queue: RankEvent[] = [];
  private waiter: ((e: RankEvent | undefined) => void) | undefined;
  private exited = false;
  port = 0;

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let e: RankEvent;
      try {
        e = JSON.parse(line) as RankEvent;
      } catch {
        return; // not ours (a warning)
      }
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(e);
      } else this.queue.push(e);
    });
    child.once('exit', () => {
      this.exited = true;
      this.waiter?.(undefined);
    });
  }

  /** `nodeArgs`: extra Node options for the rank process (e.g. --cpu-prof, --cpu-prof-dir=DIR). */
  static async spawn(nodeArgs: readonly string[] = []): Promise<RankProcess> {
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', RANK_MAIN], { stdio: ['pipe', 'pipe', 'inherit'] });
    const p = new RankProcess(child);
    const first = await p.next(30_000);
    if (first.event !== 'listening') throw new Error(`rank process: expected listening, got ${JSON.stringify(first)}`);
    p.port = first.port as number;
    return p;
  }

  send(cmd: object): void {
    this.child.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  /** The next answer; rejects when the process exits first or after timeoutMs. */
  next(timeoutMs = 120_000): Promise<RankEvent> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exited) return Promise.reject(new Error(`rank process ${this.child.pid} exited`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`rank process ${this.child.pid}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (e) => {
        clearTimeout(timer);
        if (e) resolve(e);
        else reject(new Error(`rank process ${this.child.pid} exited`));
      };
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.send({ cmd: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }
}

export interface RingProcessOptions {
  runId?: string;
  generation?: number;
  chunkBytes?: number;
  maxChunksInFlight?: number;
  collectiveMs?: number;
  /** Extra Node options of every rank process. */
  nodeArgs?: readonly string[];
}

/** N rank processes forming one ring (every rank connected when this resolves). */
export async function spawnRing(size: number, opts: RingProcessOptions = {}): Promise<RankProcess[]> {
  const ranks = await Promise.all(Array.from({ length: size }, () => RankProcess.spawn(opts.nodeArgs)));
  const addresses = ranks.map((p) => `127.0.0.1:${p.port}`);
  ranks.forEach((p, rank) => p.send({ cmd: 'group', runId: opts.runId ?? 'run-a', generation: opts.generation ?? 1, rank, size, addresses,
    chunkBytes: opts.chunkBytes, maxChunksInFlight: opts.maxChunksInFlight, collectiveMs: opts.collectiveMs }));
  const answers = await Promise.all(ranks.map((p) => p.next()));
  const bad = answers.find((a) => a.event !== 'group');
  if (bad) throw new Error(`ring of ${size} processes did not form: ${JSON.stringify(bad)}`);
  return ranks;
}
