import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, freePorts, stableRange } from '../../services/launcher/ports.ts';

const listen = (port: number): Promise<net.Server> => new Promise((resolve, reject) => {
  const srv = net.createServer();
  srv.once('error', reject);
  srv.listen(port, '127.0.0.1', () => resolve(srv));
});

test('the stable range lies below the ephemeral range; too small or unreadable falls back to bind(0)', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-ports-'));
  try {
    const file = path.join(dir, 'range');
    await fsp.writeFile(file, '32768\t60999\n');
    assert.deepEqual(stableRange(file), [20_000, 32_768]);
    await fsp.writeFile(file, '20500 60999\n');
    assert.equal(stableRange(file), undefined, 'fewer than 1000 ports');
    await fsp.writeFile(file, 'garbage');
    assert.equal(stableRange(file), undefined);
    assert.equal(stableRange(path.join(dir, 'missing')), undefined);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('ports come from the range, are distinct and bindable; a taken port is skipped', async () => {
  const range = stableRange();
  const ports = await freePorts(8);
  assert.equal(new Set(ports).size, 8);
  for (const p of ports) {
    if (range) assert.ok(p >= range[0] && p < range[1], `${p} in [${range[0]}, ${range[1]})`);
    (await listen(p)).close();
  }
  // A one-port range whose port is taken: another port (the kernel's), never the taken one.
  const taken = await listen(0);
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const other = await freePort('127.0.0.1', [port, port + 1]);
    assert.notEqual(other, port);
    (await listen(other)).close();
  } finally {
    taken.close();
  }
});
