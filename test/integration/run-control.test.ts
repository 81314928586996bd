// The schedulers' reading of the control subject (scheduler/run-control.ts) against a real
// nats-server: pause holds a boundary until resume; stop or shutdown ends a pause and counts as a
// stop; messages for another run, malformed ones and unknown types change nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { encodeMessage } from '../../services/control/messages.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { RunControl } from '../../services/scheduler/run-control.ts';
import { quietLog } from '../harness/cluster.ts';
import { useTestNats, waitFor } from '../harness/nats.ts';

const RUN = 'control-run';
const subject = runSubjects(RUN).control;
const t = useTestNats();

async function send(payload: object | Uint8Array): Promise<void> {
  t.nc.publish(subject, payload instanceof Uint8Array ? payload : encodeMessage(payload));
  await t.nc.flush();
}

/** A RunControl on its own connection (as a scheduler has), with the hooks' calls recorded. */
async function open(signal = new AbortController().signal) {
  const own = await connect({ servers: t.nats.url });
  const stops: string[] = [];
  const calls: string[] = [];
  const control = new RunControl(own, subject, RUN, quietLog, signal, (why) => stops.push(why));
  await own.flush();
  const hooks = { onPause: () => { calls.push('pause'); }, onResume: () => { calls.push('resume'); } };
  return { control, stops, calls, hooks, close: async () => { control.close(); await own.close(); } };
}

test('pause holds the boundary until resume; the hooks run once each; not paused: no wait', async () => {
  const c = await open();
  try {
    assert.equal(await c.control.holdWhilePaused(c.hooks), false);
    assert.deepEqual(c.calls, []);
    await send({ type: 'pause', run: RUN });
    await waitFor(() => c.control.isPaused, 'the pause');
    let released = false;
    const held = c.control.holdWhilePaused(c.hooks).then((waited) => { released = true; return waited; });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(released, false, 'still held while paused');
    assert.deepEqual(c.calls, ['pause']);
    await send({ type: 'resume', run: RUN });
    assert.equal(await held, true);
    assert.deepEqual(c.calls, ['pause', 'resume']);
    assert.equal(c.control.stopRequested, false);
  } finally {
    await c.close();
  }
});

test('stop ends a pause and is reported once with its reason; a shutdown (abort) is a stop too', async () => {
  const c = await open();
  try {
    await send({ type: 'pause', run: RUN });
    await waitFor(() => c.control.isPaused, 'the pause');
    const held = c.control.holdWhilePaused(c.hooks);
    await send({ type: 'stop', run: RUN, reason: 'operator' });
    await send({ type: 'stop', run: RUN, reason: 'again' });
    assert.equal(await held, true);
    assert.equal(c.control.stopRequested, true);
    assert.equal(c.control.isPaused, false, 'a stopped run is not paused');
    assert.deepEqual(c.stops, ['operator']);
  } finally {
    await c.close();
  }
  const ac = new AbortController();
  const d = await open(ac.signal);
  try {
    await send({ type: 'pause', run: RUN });
    await waitFor(() => d.control.isPaused, 'the pause');
    const held = d.control.holdWhilePaused(d.hooks);
    ac.abort();
    assert.equal(await held, true);
    assert.deepEqual(d.stops, ['shutdown']);
  } finally {
    await d.close();
  }
});

test('another run id, malformed payloads and unknown types change nothing', async () => {
  const c = await open();
  try {
    await send({ type: 'stop', run: 'another-run' });
    await send({ type: 'pause', run: 'another-run' });
    await send({ type: 'stop' });
    await send({ type: 'kill', run: RUN });
    await send({ type: 'stop', run: RUN, force: true });
    await send(Buffer.from('{"type":"st'));
    await send(new Uint8Array(0));
    // A message that does take effect, sent last: once it is seen, every one before it was read.
    await send({ type: 'pause', run: RUN });
    await waitFor(() => c.control.isPaused, 'the valid pause');
    assert.equal(c.control.stopRequested, false);
    assert.deepEqual(c.stops, []);
  } finally {
    await c.close();
  }
});
