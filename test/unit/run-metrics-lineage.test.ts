import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineage, recordPosition } from '../../services/run/metrics-lineage.ts';

const train = (step: number, loss: number) => ({ kind: 'train', step, loss });

test('a resume to T drops the earlier records past T, keeps those at or before T, and its own record', () => {
  const log = [
    train(1, 1), train(2, 2), { kind: 'validation', step: 2, loss: 9 }, { kind: 'checkpoint', iteration: 2 },
    train(3, 3), { kind: 'validation', step: 4, loss: 8 }, train(4, 4),
    { kind: 'resume', step: 2, checkpoint: 'checkpoints/iter-000002' },
    train(3, 30), train(4, 40),
  ];
  const kept = lineage(log);
  assert.deepEqual(kept.filter((r) => r.kind === 'train').map((r) => [r.step, r.loss]), [[1, 1], [2, 2], [3, 30], [4, 40]]);
  assert.deepEqual(kept.filter((r) => r.kind === 'validation').map((r) => r.step), [2]);
  assert.equal(kept.filter((r) => r.kind === 'checkpoint').length, 1);
  assert.equal(kept.filter((r) => r.kind === 'resume').length, 1);
  assert.equal(log.length, 10, 'the input is not changed');
});

test('resumes chain: a later resume to an earlier point drops what the first resume kept past it', () => {
  const log = [
    train(1, 1), train(2, 2), train(3, 3),
    { kind: 'resume', step: 2 }, train(3, 30), train(4, 40),
    { kind: 'resume', step: 1 }, train(2, 200),
  ];
  assert.deepEqual(lineage(log).filter((r) => r.kind === 'train').map((r) => r.loss), [1, 200]);
});

test('GAN records are positioned by iteration; a resume to 0 drops every positioned record before it', () => {
  const log = [
    { kind: 'train', iteration: 1, lossD: 1 }, { kind: 'sample', iteration: 1, path: 'a.png' }, { kind: 'note' },
    { kind: 'error', iteration: 1, message: 'x' },
    { kind: 'resume', iteration: 0, checkpoint: null }, { kind: 'train', iteration: 1, lossD: 2 },
  ];
  const kept = lineage(log);
  assert.deepEqual(kept.map((r) => r.kind), ['note', 'resume', 'train']);
  assert.equal(kept[2].lossD, 2);
});

test('a record\'s position is its step, else its iteration, else none', () => {
  assert.equal(recordPosition({ kind: 'train', step: 3, iteration: 9 }), 3);
  assert.equal(recordPosition({ kind: 'train', iteration: 9 }), 9);
  assert.equal(recordPosition({ kind: 'train', step: '3' }), undefined);
  assert.deepEqual(lineage([{ kind: 'resume' }, train(5, 5)]).length, 2, 'a resume without a position drops nothing');
});
