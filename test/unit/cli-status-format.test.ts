// `gantry status`'s text: the run state, the members heard, and a classifier run's registered
// workers sorted by rank (unranked newcomers last) with each one's last write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatStatus } from '../../services/cli/commands/status.ts';
import type { RunState } from '../../services/control/run-state.ts';
import type { StoredRegistration } from '../../services/control/worker-registry.ts';

const state: RunState = {
  runId: 'cw', status: 'paused', iteration: 177, iterations: 2577, lastCheckpoint: null, generation: 2,
  configHash: 'a'.repeat(64), scheduler: { instance: 'vm-1-x', pid: 1, host: 'vm' }, updatedAt: new Date().toISOString(),
};

function worker(key: string, rank: number | null, secondsAgo: number): StoredRegistration {
  return {
    reg: { run: 'cw', key, host: 'vm', pid: 100 + key.length, addr: `127.0.0.1:${4000 + key.length}`, ready: true, generation: rank === null ? null : 2, rank, applied: rank === null ? null : 177, ts: new Date().toISOString() },
    writtenAt: new Date(Date.now() - secondsAgo * 1000),
  };
}

test('workers are listed by rank, newcomers last, with generation, applied step and age', () => {
  const text = formatStatus(state, [], 500, [worker('newcomer', null, 0), worker('b1', 1, 1), worker('a0', 0, 2)]);
  const lines = text.trimEnd().split('\n');
  assert.match(text, /^status +paused$/m);
  assert.match(text, /^members +\(heartbeats heard in 500 ms\): none$/m);
  const at = lines.findIndex((l) => l.startsWith('workers'));
  assert.ok(at > 0, text);
  assert.match(lines[at + 1], /^ {2}worker a0 {2,}ready {2}rank 0 {2}generation 2 {2}applied 177 {2}pid 102 {2}vm {2}grpc 127\.0\.0\.1:4002 {2}written 2s ago$/);
  assert.match(lines[at + 2], /worker b1 .*rank 1 /);
  assert.match(lines[at + 3], /worker newcomer .*rank - {2}generation - {2}applied - /);
  assert.equal(lines.length, at + 4);
  const column = lines.slice(at + 1).map((l) => l.indexOf('  ready'));
  assert.ok(column.every((c) => c === column[0] && c > 0), `the state column lines up after the longest key: ${column}`);
});

test('a run without workers (a GAN run) has no workers section', () => {
  assert.doesNotMatch(formatStatus(state, [], 500), /^workers/m);
});
