// Local mode binds every listener to loopback: with GANTRY_GRPC_HOST and GANTRY_METRICS_HOST set to
// 0.0.0.0 in the user's environment (which the launcher's children inherit), a local cluster still
// serves gRPC and /metrics on 127.0.0.1 only (a plaintext gRPC listener on 0.0.0.0 would also be
// refused), and the run completes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';

const saved = { grpc: process.env.GANTRY_GRPC_HOST, metrics: process.env.GANTRY_METRICS_HOST };
let root: string | undefined;

after(async () => {
  for (const [name, value] of [['GANTRY_GRPC_HOST', saved.grpc], ['GANTRY_METRICS_HOST', saved.metrics]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  if (root) await rm(root, { recursive: true, force: true });
});

test('a local cluster binds gRPC and /metrics to 127.0.0.1 whatever the environment says', async () => {
  root = await tempDir('gantry-loopback-');
  process.env.GANTRY_GRPC_HOST = '0.0.0.0';
  process.env.GANTRY_METRICS_HOST = '0.0.0.0';
  const output = new LineSink();
  const cfg = tinyGanConfig({ out: root, iterations: 2, checkpointEvery: 2, sampleEvery: 2 });
  const summary = await echoOnFailure(output, runLocalCluster(cfg, { log: quietLog, output, progress: false, handleSignals: false }));
  assert.equal(summary.status, 'completed');
  for (const role of ['generator', 'discriminator']) {
    const line = output.find(new RegExp(`^\\[${role}\\] .*"msg":"config"`));
    assert.ok(line, `the ${role} logged its config`);
    const { config } = JSON.parse(line.slice(line.indexOf('{'))) as { config: { grpcHost: string; metricsHost: string } };
    assert.deepEqual([config.grpcHost, config.metricsHost], ['127.0.0.1', '127.0.0.1'], role);
  }
  const scheduler = output.find(/^\[scheduler\] .*"msg":"config"/);
  assert.ok(scheduler && JSON.parse(scheduler.slice(scheduler.indexOf('{'))).config.metricsHost === '127.0.0.1');
});
