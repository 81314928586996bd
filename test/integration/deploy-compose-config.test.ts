// `docker compose config` for every combination of the Compose layers (core, gpu, observability,
// replicas, with the classifier profile): each resolves, publishes ports on 127.0.0.1 only, gives
// every service a health check, starts the scheduler after healthy services, sets only GANTRY_*
// variables the services read, and takes every tag and port from deploy/.env. With the replicas
// layer the discriminator group is wired as the local launcher wires it (each process's
// environment read by the services' own config parsers).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { COMPOSE_FILES, type ComposeLayer, ComposeProject, DEPLOY_DIR, dockerEngine, dotEnv } from '../harness/docker.ts';
import { envNameErrors } from '../harness/deploy-env.ts';
import { ganTrainSchema, parseConfig } from '../../services/train/config.ts';
import { discriminatorGroupErrors } from '../harness/discriminator-group.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- compose's JSON model */
type Service = any;

const engine = await dockerEngine();
const GANTRY_ROLES = ['generator', 'discriminator', 'scheduler', 'worker'];
const COMBINATIONS: ComposeLayer[][] = [['core'], ['core', 'gpu'], ['core', 'observability'], ['core', 'gpu', 'observability'],
  ['core', 'replicas'], ['core', 'gpu', 'observability', 'replicas', 'replicasGpu']];

async function resolved(layers: ComposeLayer[]): Promise<Record<string, Service>> {
  const project = new ComposeProject('gantry-config-check', layers);
  const json = JSON.parse(await project.exec(['--profile', 'classifier', 'config', '--format', 'json'], 60_000)) as { services: Record<string, Service> };
  return json.services;
}

describe('docker compose config', { skip: engine.ok ? false : engine.reason }, () => {
  for (const layers of COMBINATIONS) {
    it(layers.join(' + '), async () => {
      const services = await resolved(layers);
      const names = Object.keys(services).sort();
      const ranks = layers.includes('replicas') ? ['discriminator', 'discriminator-1'] : ['discriminator'];
      const expected = ['classifier', ...ranks, 'generator', 'nats', 'scheduler', 'worker', ...(layers.includes('observability') ? ['grafana', 'prometheus'] : [])].sort();
      assert.deepEqual(names, expected);
      for (const [name, s] of Object.entries(services)) {
        for (const p of s.ports ?? []) assert.equal(p.host_ip, '127.0.0.1', `${name}: port ${p.target} is published on ${p.host_ip ?? 'every interface'}`);
        assert.ok(s.healthcheck?.test, `${name}: no health check`);
        // A gantry service's name is its role; Grafana's PROMETHEUS_URL is Grafana's own (not a GANTRY_ variable).
        // `classifier` is the scheduler of a data-parallel classifier run (GANTRY_RUN_KIND=classifier).
        // discriminator-R is rank R of the discriminator group (compose.replicas.yaml).
        const role = name === 'classifier' ? 'scheduler' : name.replace(/-\d+$/, '');
        if (GANTRY_ROLES.includes(role)) {
          const settings = Object.keys(s.environment ?? {}).map((v) => ({ name: v, where: `service ${name}`, role }));
          assert.deepEqual(envNameErrors(settings), []);
        }
      }
      // Only what a user needs is published: NATS (gantry status), Prometheus and Grafana.
      const published = names.filter((n) => (services[n].ports ?? []).length > 0);
      assert.deepEqual(published, ['grafana', 'nats', 'prometheus'].filter((n) => names.includes(n)));
      for (const dep of ['nats', 'generator', ...ranks]) {
        assert.equal(services.scheduler.depends_on?.[dep]?.condition, 'service_healthy', `scheduler waits for a healthy ${dep}`);
      }
      assert.ok(services.nats.volumes.some((v: any) => v.target === '/data' && v.type === 'volume'), 'JetStream store on a volume');
      // The scheduler is the run directory's only writer: the model services mount no volume at all.
      assert.ok(services.scheduler.volumes.some((v: any) => v.target === '/var/lib/gantry/runs' && v.type === 'volume'), 'scheduler: the run volume');
      for (const role of ['generator', ...ranks, 'worker']) {
        assert.deepEqual((services[role].volumes ?? []).filter((v: any) => v.type !== 'tmpfs'), [], `${role}: no volume`);
        assert.equal(services[role].environment?.GANTRY_RUN_DIR, undefined, `${role}: told no run directory`);
      }
      assert.equal(services.classifier.environment?.GANTRY_RUN_KIND, 'classifier');
      assert.ok(services.classifier.volumes.some((v: any) => v.target === '/var/lib/gantry/runs' && v.type === 'volume'), 'classifier: the run volume');
      for (const role of ['generator', ...ranks, 'scheduler', 'classifier']) {
        assert.equal(services[role].read_only, true, `${role}: read-only root filesystem`);
        assert.deepEqual(services[role].cap_drop, ['ALL'], `${role}: no capabilities`);
      }
      if (layers.includes('gpu')) {
        for (const role of ['generator', ...ranks, 'worker']) {
          const devices = services[role].deploy?.resources?.reservations?.devices ?? [];
          assert.ok(devices.some((d: any) => d.driver === 'nvidia' && d.capabilities.includes('gpu')), `${role}: reserves a GPU`);
        }
      }
      const trainFile = services.scheduler.volumes.find((v: any) => v.target === '/etc/gantry/train.json').source as string;
      const train = JSON.parse(readFileSync(trainFile, 'utf8'));
      if (layers.includes('replicas')) {
        // Rank r is the r-th discriminator service, addressed by its service name on its gRPC port.
        const addresses = ranks.map((n) => `${n}:${services[n].environment.GANTRY_GRPC_PORT}`);
        assert.deepEqual(discriminatorGroupErrors({
          ranks: ranks.map((n) => services[n].environment), generator: services.generator.environment,
          scheduler: services.scheduler.environment, train, addresses,
        }), []);
        assert.deepEqual(services['discriminator-1'].command, services.discriminator.command);
        assert.equal(services['discriminator-1'].image, services.discriminator.image, 'every rank runs the same image');
        // gan-replicas.json is a copy of gan.json: it must not drift but for discriminatorReplicas.
        const gan = JSON.parse(readFileSync(path.join(DEPLOY_DIR, 'config/gan.json'), 'utf8'));
        assert.deepEqual({ ...train, discriminatorReplicas: 0 }, { ...gan, discriminatorReplicas: 0 });
      } else {
        assert.equal(services.discriminator.environment.GANTRY_DISCRIMINATOR_ADDRS, undefined, 'one discriminator: no group');
        assert.equal(services.scheduler.environment.GANTRY_DISCRIMINATOR_ADDRS, undefined, 'one discriminator: no group');
        assert.equal(train.discriminatorReplicas, undefined, `${trainFile}: one discriminator`);
      }
      if (layers.includes('observability')) {
        const mounts = (s: Service) => new Map<string, string>(s.volumes.filter((v: any) => v.type === 'bind').map((v: any) => [v.target, v.source]));
        const prom = mounts(services.prometheus);
        assert.equal(prom.get('/etc/prometheus/prometheus.yml'), path.join(DEPLOY_DIR, 'prometheus/prometheus.compose.yml'));
        assert.equal(prom.get('/etc/prometheus/rules'), path.join(DEPLOY_DIR, 'prometheus/rules'));
        for (const f of prom.values()) assert.ok(existsSync(f), `${f} exists`);
        const grafana = mounts(services.grafana);
        assert.equal(grafana.get('/etc/grafana/provisioning'), path.join(DEPLOY_DIR, 'grafana/provisioning'));
        assert.equal(grafana.get('/var/lib/grafana/dashboards/gantry'), path.join(DEPLOY_DIR, 'grafana/dashboards'));
        for (const f of grafana.values()) assert.ok(existsSync(f), `${f} exists`);
        // The provisioned datasource reads its URL from PROMETHEUS_URL; the provider, its path.
        assert.equal(services.grafana.environment.PROMETHEUS_URL, 'http://prometheus:9090');
        const provider = readFileSync(path.join(DEPLOY_DIR, 'grafana/provisioning/dashboards/gantry.yml'), 'utf8');
        assert.match(provider, /path: \/var\/lib\/grafana\/dashboards\/gantry$/m);
      }
    });
  }
});

it('deploy/.env defines every variable the compose files interpolate', () => {
  const env = dotEnv();
  for (const file of Object.values(COMPOSE_FILES)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
      assert.ok(m[1] in env, `${path.basename(file)}: \${${m[1]}} is not in deploy/.env`);
    }
  }
});

it('deploy/config/gan.json, the stack\'s default training config, is a valid GAN config', () => {
  const file = path.join(DEPLOY_DIR, 'config/gan.json');
  const cfg = parseConfig(ganTrainSchema, JSON.parse(readFileSync(file, 'utf8')), file);
  assert.equal(cfg.preset, 'dcgan');
});
