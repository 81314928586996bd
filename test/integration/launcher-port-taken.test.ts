// A port the launcher picked is taken by someone else before its child binds it (the pick and the
// bind are a process start apart; a concurrent program can bind the port in between). The child
// must exit (code 3, not hang with its other listeners open) and the launcher must move it to a
// fresh port, re-address the members that call it, and finish the run. Here the "someone else"
// is this test, holding the port the launcher is handed first.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { after, before, test } from 'node:test';
import { type ClusterEvent, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { runLocalWorkers, type WorkersEvent } from '../../services/launcher/local-workers.ts';
import { freePorts } from '../../services/launcher/ports.ts';
import { classifierTrainSchema } from '../../services/train/config.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';

let root: string;
let holder: net.Server;
let held: number;

before(async () => {
  root = await tempDir('gantry-port-taken-');
  holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  held = (holder.address() as net.AddressInfo).port;
});
after(async () => {
  await new Promise((resolve) => holder.close(resolve));
  await fsp.rm(root, { recursive: true, force: true });
});

/** The first pick starts with the held port; every later pick is really free. */
function takenFirst(): (count: number) => Promise<number[]> {
  let first = true;
  return async (count) => {
    if (!first) return freePorts(count);
    first = false;
    return [held, ...(await freePorts(count - 1))];
  };
}

test("GAN: the generator's gRPC port is taken: it exits 3, moves, the discriminator and scheduler learn its new address, the run completes", async () => {
  const output = new LineSink();
  const events: ClusterEvent[] = [];
  const cfg = tinyGanConfig({ out: path.join(root, 'gan'), iterations: 2, checkpointEvery: 2, sampleEvery: 2 });
  const summary = await echoOnFailure(output, runLocalCluster(cfg, {
    log: quietLog, output, progress: false, handleSignals: false, pickPorts: takenFirst(), onEvent: (e) => events.push(e),
  }));
  assert.equal(summary.status, 'completed');
  assert.equal(summary.iterations, 2);
  assert.deepEqual(summary.restarts, { generator: 0, discriminator: 0, scheduler: 0 }, 'a port move is not a failure');
  const exits = events.filter((e): e is Extract<ClusterEvent, { type: 'exit' }> => e.type === 'exit' && e.role === 'generator');
  assert.equal(exits[0]?.code, 3, 'the generator exits with code 3 (address in use)');
  assert.ok(output.find(new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${held}`)), 'the generator said which address was taken');
  const spawns = (role: string): number => events.filter((e) => e.type === 'spawn' && e.role === role).length;
  assert.equal(spawns('generator'), 2, 'the generator started again');
  assert.ok(spawns('discriminator') >= 2, 'the discriminator (it calls the generator) started again with the new address');
  assert.ok(spawns('scheduler') >= 2, 'the scheduler (it streams the generator\'s weights) started again with the new address');
  const ready = output.find(/^\[generator\] .*"msg":"ready"/);
  assert.ok(ready, 'the moved generator became ready');
  const { grpcPort } = JSON.parse(ready.slice(ready.indexOf('{'))) as { grpcPort: number };
  assert.notEqual(grpcPort, held);
  const dConfig = output.lines.filter((l) => /^\[discriminator\] .*"msg":"config"/.test(l)).at(-1)!;
  assert.equal(JSON.parse(dConfig.slice(dConfig.indexOf('{'))).config.generatorAddr, `127.0.0.1:${grpcPort}`);
});

test("workers: the scheduler's /metrics port is taken: it exits 3, starts again on another port, the run completes", async () => {
  const output = new LineSink();
  const events: WorkersEvent[] = [];
  const cfg = classifierTrainSchema.parse({
    preset: 'quick', maxSteps: 2, evalEvery: 2, checkpointEvery: 2, validationSize: 100, batchSize: 16, seed: 4, workers: 1,
    out: path.join(root, 'workers'),
  });
  const summary = await echoOnFailure(output, runLocalWorkers(cfg, {
    log: quietLog, output, progress: false, handleSignals: false, pickPorts: takenFirst(), onEvent: (e) => events.push(e),
  }));
  assert.equal(summary.status, 'completed');
  assert.equal(summary.steps, 2);
  const exits = events.filter((e) => e.type === 'exit' && e.role === 'scheduler');
  assert.equal((exits[0] as { code: number | null }).code, 3);
  assert.equal(events.filter((e) => e.type === 'spawn' && e.role === 'scheduler').length, 2);
  assert.ok(output.find(new RegExp(`^\\[scheduler\\] .*EADDRINUSE.*${held}`)), 'the scheduler said which port was taken');
});
