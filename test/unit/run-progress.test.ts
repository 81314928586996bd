import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createProgress, formatDuration, formatField } from '../../services/run/progress.ts';

// The logger honours these; the tests check the default JSON output at level info.
delete process.env.GANTRY_LOG_FORMAT;
delete process.env.GANTRY_LOG_LEVEL;

function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c));
  return { stream, lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

test('non-TTY: JSON lines every `every` updates and at stop, with done, total, itPerSec and fields', () => {
  const { stream, lines } = capture();
  let t = 1_000;
  const p = createProgress({ total: 10, label: 'train', stream, every: 3, now: () => t });
  for (let i = 1; i <= 7; i++) {
    t += 500; // 2 it/s
    p.update(i, { lossD: 0.5 + i, lossG: 1 / i });
  }
  p.stop();
  const out = lines();
  assert.deepEqual(out.map((r) => r.done), [3, 6, 7]);
  for (const r of out) {
    assert.equal(r.msg, 'progress');
    assert.equal(r.component, 'train');
    assert.equal(r.total, 10);
    assert.equal(r.itPerSec, 2);
  }
  assert.equal(out[0].lossD, 3.5);
  assert.equal(out[2].lossG, 1 / 7);
  assert.equal(out[2].etaSeconds, 2);
});

test('non-TTY: a slow loop logs every interval even below `every`; a resumed run counts only new iterations', () => {
  const { stream, lines } = capture();
  let t = 0;
  const p = createProgress({ total: 1000, label: 'train', stream, every: 100, intervalMs: 5000, initial: 500, now: () => t });
  t = 6000;
  p.update(503, { loss: 0.25 });
  t = 7000;
  p.update(504, {});
  const out = lines();
  assert.equal(out.length, 1);
  assert.equal(out[0].done, 503);
  assert.equal(out[0].itPerSec, 0.5);
  p.stop();
  assert.equal(lines().length, 2);
  assert.throws(() => createProgress({ total: 1, label: 'x', stream, every: 0 }), /every must be an integer >= 1/);
});

test('a TTY stream gets a bar with done/total, it/s, ETA and formatted fields', () => {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 200, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  let text = '';
  stream.on('data', (c: Buffer) => (text += c));
  let t = 0;
  const p = createProgress({ total: 100, label: 'gan', stream: stream as unknown as NodeJS.WriteStream, now: () => t });
  t = 1000;
  p.update(10, { lossD: 0.693147, lossG: 12345.678 });
  p.stop();
  assert.match(text, /gan \[.*\] 10\/100 \| 10 it\/s \| ETA 9s \| lossD 0\.6931 lossG 12350/);
});

test('field and duration formatting', () => {
  assert.deepEqual([0.693147, 1234567, 0.00012345, 0, -2.5, NaN].map(formatField), ['0.6931', '1.235e+6', '1.234e-4', '0', '-2.5', 'NaN']);
  assert.deepEqual([5, 65, 3725, NaN].map(formatDuration), ['5s', '1m05s', '1h02m', '?']);
});
