// nats-server started by a process that then dies by SIGKILL (no chance to stop it) must not be
// left running: its watchdog stops it. Also the clean stop and the missing-binary message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../services/launcher/nats-server.ts';

const accepts = (port: number): Promise<boolean> => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

test('nats-server stops when the process that started it is SIGKILLed', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-nats-orphan-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = `import { startNatsServer } from ${JSON.stringify(path.resolve('services/launcher/nats-server.ts'))};
const s = await startNatsServer({ storeDir: ${JSON.stringify(dir)} });
process.stdout.write(s.port + '\\n');
setInterval(() => {}, 1000);`;
  const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    owner.stdout.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim())));
    owner.once('exit', (code) => reject(new Error(`owner exited early (${code})`)));
  });
  assert.ok(await accepts(port), 'the server is up while its owner lives');
  owner.kill('SIGKILL');
  assert.ok(await until(async () => !(await accepts(port)), 8000), `nats-server on port ${port} still accepts 8 s after its owner died`);
});

test('a started nats-server stops cleanly and reports its exit', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-nats-stop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const s = await startNatsServer({ storeDir: dir });
  assert.ok(await accepts(s.port));
  await s.stop();
  assert.equal(await accepts(s.port), false, 'port closed after stop()');
});

test('a missing nats-server binary is reported as such', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-nats-missing-'));
  await assert.rejects(startNatsServer({ storeDir: dir, binary: 'no-such-nats-server-binary', port: 1 }), /is nats-server installed\?/);
  await rm(dir, { recursive: true, force: true });
});
