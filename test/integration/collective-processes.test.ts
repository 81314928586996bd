// The ring with each rank in its own Node process: results agree across processes, and a rank
// killed (SIGKILL) mid-collective makes the others fail with a CollectiveError naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnRing, type RankProcess } from '../harness/collective-ranks.ts';

test('three rank processes: the same mean on every rank; SIGKILL of one fails the others, naming it', async () => {
  const ranks: RankProcess[] = await spawnRing(3, { chunkBytes: 64 * 1024, collectiveMs: 60_000 });
  try {
    const elements = 100_003;
    for (const p of ranks) p.send({ cmd: 'allreduce', op: 'mean', step: 0, elements, repeat: 2 });
    const answers = await Promise.all(ranks.map((p) => p.next()));
    for (const a of answers) assert.equal(a.event, 'allreduce', JSON.stringify(a));
    // input[i] = rank + i % 7, so the mean is 1 + i % 7 (exact: (0 + 1 + 2) / 3 per offset).
    for (const a of answers) assert.deepEqual(a.head, [1, 2, 3, 4]);
    assert.equal(new Set(answers.map((a) => a.checksum)).size, 1, 'every rank has the same checksum');

    // Ranks 0 and 1 start a large collective that rank 2 never joins; rank 2 is then killed.
    for (const p of ranks.slice(0, 2)) p.send({ cmd: 'allreduce', op: 'sum', step: 1, elements: 4_000_000, repeat: 1 });
    await new Promise((r) => setTimeout(r, 300));
    ranks[2].child.kill('SIGKILL');
    const [e0, e1] = await Promise.all(ranks.slice(0, 2).map((p) => p.next()));
    for (const e of [e0, e1]) {
      assert.equal(e.event, 'error', JSON.stringify(e));
      assert.equal(e.name, 'CollectiveError');
      assert.equal(e.peerRank, 2, e.message as string);
      assert.equal(e.kind, 'peer_gone', e.message as string);
    }
  } finally {
    await Promise.all(ranks.map((p) => p.stop()));
  }
});
