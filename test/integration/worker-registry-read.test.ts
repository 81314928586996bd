// readRegistrations (what `gantry status` lists) against a real nats-server while workers beat:
// every registration once, however often its key is written during the listing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { encodeMessage } from '../../services/control/messages.ts';
import { WORKERS_BUCKET } from '../../services/control/subjects.ts';
import { readRegistrations } from '../../services/control/worker-registry.ts';
import { useTestNats } from '../harness/nats.ts';

const RUN = 'registry-read';
const t = useTestNats();

const registration = (key: string, pid: number, beat: number) => ({
  run: RUN, key, host: 'h', pid, addr: '127.0.0.1:5000', ready: true, generation: 1, rank: pid - 1, applied: beat,
  ts: new Date().toISOString(),
});

test('a key written again and again during the listing is listed once', async () => {
  const kv = await new Kvm(t.nc).create(WORKERS_BUCKET, { history: 1 });
  const keys = ['w-1', 'w-2', 'w-3'];
  for (const [i, key] of keys.entries()) await kv.put(`${RUN}.${key}`, encodeMessage(registration(key, i + 1, 0)));
  let beating = true;
  let beats = 0;
  const beater = (async () => {
    while (beating) {
      // Three workers beating far faster than real ones (500 ms), to write during every listing.
      await Promise.all(keys.map((key, i) => kv.put(`${RUN}.${key}`, encodeMessage(registration(key, i + 1, ++beats)))));
    }
  })();
  try {
    for (let round = 0; round < 40; round++) {
      const listed = (await readRegistrations(t.nc, RUN)).map((r) => r.reg.key);
      assert.deepEqual(listed, keys, `listing ${round} (after ${beats} writes)`);
    }
    assert.ok(beats > 40, `the keys were written during the listings (${beats} writes)`);
  } finally {
    beating = false;
    await beater;
  }
});
