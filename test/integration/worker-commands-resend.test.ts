// The classifier scheduler's command client against a real nats-server: a `step` or `hash` whose
// request or reply is lost (NATS core delivers at most once) is sent again and answered; a command
// that is not idempotent by itself (`evaluate`) is sent once and times out naming the worker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoleUnavailable } from '../../services/control/errors.ts';
import { encodeMessage } from '../../services/control/messages.ts';
import { workerCmdSubject } from '../../services/control/subjects.ts';
import { WorkerCommands } from '../../services/scheduler/worker-group.ts';
import { useTestNats } from '../harness/nats.ts';

const RUN = 'resend-run';
const t = useTestNats();

/** A stand-in worker that drops the first `drop` commands it receives and answers the rest. */
function lossyWorker(key: string, drop: number, reply: object): { seen: () => number; stop: () => void } {
  let seen = 0;
  const sub = t.nc.subscribe(workerCmdSubject(RUN, key, 'gantry'), {
    callback: (_err, msg) => {
      seen++;
      if (seen > drop) msg.respond(encodeMessage(reply));
    },
  });
  return { seen: () => seen, stop: () => sub.unsubscribe() };
}

test('a lost hash is sent again and answered within its deadline', async () => {
  const worker = lossyWorker('k1', 1, { ok: true, applied: 3, weightsHash: 'a'.repeat(64) });
  try {
    const cmds = new WorkerCommands(t.nc, RUN, 'gantry', { resendMs: 200 });
    const reply = await cmds.send('k1', { type: 'hash', run: RUN, generation: 1 }, 10_000);
    assert.deepEqual(reply, { ok: true, applied: 3, weightsHash: 'a'.repeat(64) });
    assert.equal(worker.seen(), 2, 'the first copy was dropped, the second answered');
  } finally {
    worker.stop();
  }
});

test('an evaluate is not sent again: a lost one times out naming the worker', async () => {
  const worker = lossyWorker('k2', 1, { ok: true, loss: 0.1, accuracy: 0.9, count: 10 });
  try {
    const cmds = new WorkerCommands(t.nc, RUN, 'gantry', { resendMs: 200 });
    await assert.rejects(cmds.send('k2', { type: 'evaluate', run: RUN, generation: 1, split: 'test' }, 1_500),
      (e: Error) => e instanceof RoleUnavailable && /worker k2/.test(e.message));
    assert.equal(worker.seen(), 1);
  } finally {
    worker.stop();
  }
});
