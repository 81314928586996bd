// The metrics library: a private registry per process with role labels, the project's metric
// names, /metrics and /healthz over real HTTP, and promtool's lint of the page when installed.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { register as globalRegistry } from 'prom-client';
import { createMetrics } from '../../services/telemetry/metrics.ts';
import { startMetricsServer } from '../../services/telemetry/metrics-server.ts';
import { tf } from '../../services/core/tf.ts';

before(() => tf.setBackend('cpu'));

const PROMTOOL = '/usr/bin/promtool';

/** The value of the sample `name` whose labels are exactly `labels` (in any order), or undefined. */
function sample(page: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of page.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').split(',').filter(Boolean).sort().join(',') === want) return Number(m[3]);
  }
  return undefined;
}

async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

test('/metrics serves the project metrics with role labels; /healthz answers', async () => {
  const m = createMetrics('discriminator');
  m.stepDuration.observe({ phase: 'd_step' }, 0.12);
  m.loss.set({ loss: 'd' }, 1.25);
  m.dOutputMean.set({ input: 'real' }, 0.7);
  m.iteration.set(12);
  m.grpcServerBytes.inc({ method: 'DiscriminatorService/TrainStep', direction: 'received' }, 25088);
  m.grpcDuration.observe({ method: 'DiscriminatorService/TrainStep', side: 'server', code: 'OK' }, 0.01);
  m.evalScore.set({ metric: 'mnist_score' }, 8.5);
  const server = await startMetricsServer(m.registry, 0);
  try {
    assert.ok(server.port > 0);
    const page = await get(server.port, '/metrics');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/plain; version=0\.0\.4/);
    const d = { role: 'discriminator' };
    assert.equal(sample(page.body, 'gantry_step_duration_seconds_count', { ...d, phase: 'd_step' }), 1);
    assert.equal(sample(page.body, 'gantry_step_duration_seconds_bucket', { ...d, phase: 'd_step', le: '0.25' }), 1);
    assert.equal(sample(page.body, 'gantry_step_duration_seconds_bucket', { ...d, phase: 'd_step', le: '0.1' }), 0);
    assert.equal(sample(page.body, 'gantry_loss', { ...d, loss: 'd' }), 1.25);
    assert.equal(sample(page.body, 'gantry_d_output_mean', { ...d, input: 'real' }), 0.7);
    assert.equal(sample(page.body, 'gantry_iteration', d), 12);
    assert.equal(sample(page.body, 'gantry_grpc_server_bytes_total',
      { ...d, method: 'DiscriminatorService/TrainStep', direction: 'received' }), 25088);
    assert.equal(sample(page.body, 'gantry_grpc_duration_seconds_count',
      { ...d, method: 'DiscriminatorService/TrainStep', side: 'server', code: 'OK' }), 1);
    assert.equal(sample(page.body, 'gantry_eval_score', { ...d, metric: 'mnist_score' }), 8.5);
    for (const name of ['gantry_tfjs_tensors', 'gantry_tfjs_bytes', 'gantry_info', 'gantry_replicas', 'gantry_images_per_second',
      'gantry_checkpoint_duration_seconds', 'gantry_collective_duration_seconds', 'gantry_collective_bytes_total',
      'gantry_grpc_client_bytes_total', 'gantry_grpc_duration_seconds', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']) {
      assert.match(page.body, new RegExp(`^# TYPE ${name} `, 'm'), `missing metric ${name}`);
    }
    assert.match(page.body, /^process_cpu_seconds_total\{role="discriminator"\} /m);
    assert.match(page.body, /^gantry_info\{backend="cpu",version="\d+\.\d+\.\d+",role="discriminator"\} 1$/m);
    const health = await get(server.port, '/healthz');
    assert.equal(health.status, 200);
    assert.equal((await get(server.port, '/nope')).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

test('a port in use is reported with the address', async () => {
  const m = createMetrics('scheduler');
  const first = await startMetricsServer(m.registry, 0);
  try {
    await assert.rejects(startMetricsServer(m.registry, first.port), new RegExp(`metrics server: cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`));
  } finally {
    await first.close();
  }
});

test('tfjs gauges are read at scrape time', async () => {
  const m = createMetrics('generator');
  const value = async () => Number(/^gantry_tfjs_tensors\{[^}]*\} (\d+)$/m.exec(await m.registry.metrics())?.[1]);
  const before = await value();
  const t = tf.zeros([4, 4]);
  assert.equal(await value(), before + 1);
  t.dispose();
  assert.equal(await value(), before);
});

test('each process object has its own registry; the global one stays empty; ranks label workers', async () => {
  const a = createMetrics('generator');
  const b = createMetrics('worker', { rank: 3 });
  a.iteration.set(5);
  b.iteration.set(9);
  assert.match(await a.registry.metrics(), /^gantry_iteration\{role="generator"\} 5$/m);
  assert.match(await b.registry.metrics(), /^gantry_iteration\{role="worker",rank="3"\} 9$/m);
  assert.equal(globalRegistry.getMetricsAsArray().filter((x) => x.name.startsWith('gantry_')).length, 0);
  assert.throws(() => createMetrics('gpu' as never), /role must be one of generator, discriminator, scheduler, trainer, worker, found "gpu"/);
  assert.throws(() => createMetrics('worker', { rank: -1 }), /rank must be a non-negative integer, found -1/);
});

test('promtool check metrics finds no problems in the page', { skip: !existsSync(PROMTOOL) && `${PROMTOOL} not installed` }, async () => {
  const m = createMetrics('trainer');
  m.stepDuration.observe({ phase: 'g_step' }, 0.3);
  m.collectiveBytes.inc({ op: 'allreduce', direction: 'sent', rank: '0' }, 1024);
  const server = await startMetricsServer(m.registry, 0);
  try {
    const page = await get(server.port, '/metrics');
    const out = spawnSync(PROMTOOL, ['check', 'metrics'], { input: page.body, encoding: 'utf8' });
    assert.equal(out.status, 0, `promtool exited ${out.status}: ${out.stdout}${out.stderr}`);
    assert.equal((out.stdout + out.stderr).trim(), '', `promtool reported: ${out.stdout}${out.stderr}`);
  } finally {
    await server.close();
  }
});
