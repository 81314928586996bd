// A stand-in generator process for liveness tests: it heartbeats like a service, and answers
// every command after blocking its main thread for GANTRY_TEST_BUSY_MS (as a long synchronous
// tfjs computation does: no heartbeats meanwhile). argv: NATS url, run id.
import os from 'node:os';
import { connect } from '@nats-io/transport-node';
import { encodeMessage } from '../../services/control/messages.ts';
import { runSubjects } from '../../services/control/subjects.ts';

const [url, run] = process.argv.slice(2);
const busyMs = Number(process.env.GANTRY_TEST_BUSY_MS ?? 1000);
const subjects = runSubjects(run);
const nc = await connect({ servers: url });
const instance = `busy-${process.pid}`;
const beat = (): void => {
  nc.publish(subjects.hb('generator'), encodeMessage({
    role: 'generator', run, instance, pid: process.pid, host: os.hostname(), generation: 0, ready: true, ts: new Date().toISOString(),
  }));
};
setInterval(beat, 50);
beat();
nc.subscribe(subjects.cmd('generator'), {
  callback: (_err, msg) => {
    const cmd = JSON.parse(new TextDecoder().decode(msg.data)) as { type: string; iteration: number; path?: string };
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, busyMs); // the main thread is blocked
    const body = cmd.type === 'eval' ? { iteration: cmd.iteration, scores: null, seconds: busyMs / 1000 } : { path: cmd.path };
    msg.respond(encodeMessage({ ok: true, ...body }));
  },
});
await nc.flush();
process.stdout.write('ready\n');
