// ManagedChild: the launcher's handle on one child process. Its exit is reported once its output
// has been read (so the reason it gives is the child's last line), and not held up for ever by a
// grandchild that keeps the pipes open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { type ChildExit, ManagedChild } from '../../services/launcher/child.ts';

function run(script: string): { child: ManagedChild; exit: Promise<{ exit: ChildExit; said: string | undefined; ms: number }> } {
  const started = performance.now();
  let child!: ManagedChild;
  const exit = new Promise<{ exit: ChildExit; said: string | undefined; ms: number }>((resolve) => {
    child = new ManagedChild({ role: 'probe', command: process.execPath, args: ['-e', script], env: process.env },
      new PassThrough().resume(), (e) => resolve({ exit: e, said: child.lastWords(), ms: performance.now() - started }));
  });
  child.start();
  return { child, exit };
}

test('the exit is reported after the last line of a burst of output, which names the reason', async () => {
  // 20,000 lines (about a megabyte) just before exiting (exitCode, not exit(), so that the child
  // itself flushes them all): whatever order 'exit' and the last reads come in, the reason is read
  // from the last line.
  const { exit } = run(`for (let i = 0; i < 20000; i++) process.stderr.write('line ' + i + ' '.repeat(40) + '\\n');
    process.stderr.write('gantry: the probe gave up\\n'); process.exitCode = 3;`);
  const r = await exit;
  assert.equal(r.exit.code, 3);
  assert.equal(r.said, 'the probe gave up');
});

test('a grandchild holding the pipes open does not delay the exit beyond the drain limit', async (t) => {
  // The child starts a detached grandchild that inherits stdout/stderr and lives 30 s, then exits.
  const { child, exit } = run(`const { spawn } = require('node:child_process');
    const g = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'inherit', detached: true });
    console.log('gantry: grandchild ' + g.pid); g.unref(); process.exit(0);`);
  const r = await exit;
  const pid = Number(/grandchild (\d+)/.exec(r.said ?? '')?.[1]);
  t.after(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  assert.ok(pid > 0, `the child's last words name its grandchild: ${r.said}`);
  assert.equal(r.exit.code, 0);
  assert.ok(r.ms < 10_000, `exit reported after ${r.ms.toFixed(0)} ms, while the grandchild still holds the pipes`);
  await child.stop(1000);
});
