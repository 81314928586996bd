// Offline validation of k8s/: every overlay builds with `kubectl kustomize`; every resource passes
// its schema (kubernetes-models, the KEDA and prometheus-operator models) and names no unknown
// field; selectors, ports, ConfigMaps, Secrets, claims, service accounts and probes refer to
// things that exist; pods meet the restricted Pod Security Standard with resources, labels and
// pinned images; every GANTRY_* variable set is one the services read; the discriminator replica
// group (overlays/local-gan-replicas) is wired as the local launcher wires it, each pod's
// environment read by the services' own config parsers. Then each check is shown to catch a
// planted mistake, and the generated PrometheusRule is shown to be current.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { PROMETHEUS_RULE_FILE, renderPrometheusRule } from '../../scripts/gen-k8s-rules.ts';
import { REPO_ROOT } from '../harness/docker.ts';
import { type K8sObject, schemaErrors, unknownFieldErrors } from '../harness/k8s-models.ts';
import { envNameErrors, stalePendingNames } from '../harness/deploy-env.ts';
import { gantryEnvSettings, labelErrors, podPolicyErrors, referenceErrors, selectorErrors } from '../harness/k8s-refs.ts';
import { classifierTrainSchema, ganTrainSchema, parseConfig } from '../../services/train/config.ts';
import { resolveDiscriminatorConfig } from '../../services/discriminator/config.ts';
import { discriminatorGroupErrors } from '../harness/discriminator-group.ts';
import { podEnv } from '../harness/k8s-pod-env.ts';

const OVERLAYS_DIR = path.join(REPO_ROOT, 'k8s/overlays');
const OVERLAYS = readdirSync(OVERLAYS_DIR).sort();

function kustomize(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => d.toJSON() as K8sObject);
}

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** GANTRY_* settings that their container's role does not read (or no service reads). */
function unreadEnvNames(objects: readonly K8sObject[]): string[] {
  return envNameErrors(gantryEnvSettings(objects));
}

const built = new Map<string, K8sObject[]>();

describe('k8s overlays', { skip: hasKubectl() ? false : 'kubectl not found: install kubectl (it carries kustomize) to validate k8s/' }, () => {
  before(() => {
    for (const o of OVERLAYS) built.set(o, kustomize(path.join(OVERLAYS_DIR, o)));
  });

  it('the overlays are local, local-classifier, local-gan-replicas, cluster and cluster-hpa, and each builds the whole application', () => {
    assert.deepEqual(OVERLAYS, ['cluster', 'cluster-hpa', 'local', 'local-classifier', 'local-gan-replicas']);
    for (const [name, objects] of built) {
      const kinds = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
      for (const want of ['StatefulSet/gantry-nats', 'Deployment/gantry-generator', 'StatefulSet/gantry-discriminator', 'Service/gantry-discriminator-peers', 'Job/gantry-scheduler',
        'StatefulSet/gantry-worker', 'Service/gantry-worker', 'PersistentVolumeClaim/gantry-runs', 'ConfigMap/gantry-config',
        'Secret/gantry-nats', 'ServiceAccount/gantry', 'PodDisruptionBudget/gantry-worker']) {
        assert.ok(kinds.has(want), `${name}: ${want} is missing`);
      }
    }
    const cluster = new Set(built.get('cluster')!.map((o) => o.kind));
    for (const k of ['ScaledObject', 'ServiceMonitor', 'PrometheusRule', 'NetworkPolicy']) assert.ok(cluster.has(k), `cluster: no ${k}`);
    assert.ok(built.get('cluster-hpa')!.some((o) => o.kind === 'HorizontalPodAutoscaler'), 'cluster-hpa: no HorizontalPodAutoscaler');
  });

  it('local-classifier: the scheduler drives the workers with a valid ClassifierTrainConfig; G and D are scaled to 0', () => {
    const objects = built.get('local-classifier')!;
        const find = (kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
    const env = find('Job', 'gantry-scheduler').spec.template.spec.containers[0].env as { name: string; value?: string }[];
    assert.equal(env.find((e) => e.name === 'GANTRY_RUN_KIND')?.value, 'classifier');
    const train = JSON.parse(find('ConfigMap', 'gantry-config').data['train.json']);
    assert.equal(classifierTrainSchema.safeParse(train).success, true, JSON.stringify(train));
    assert.equal(find('Deployment', 'gantry-generator').spec.replicas, 0, 'generator');
    assert.equal(find('StatefulSet', 'gantry-discriminator').spec.replicas, 0, 'discriminator');
    assert.ok(find('StatefulSet', 'gantry-worker').spec.replicas >= 1);
    // The GAN overlays keep a GanTrainConfig.
    const localConfig = built.get('local')!.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'gantry-config') as unknown as { data: Record<string, string> };
    assert.equal(ganTrainSchema.safeParse(JSON.parse(localConfig.data['train.json'])).success, true);
  });

  for (const overlay of OVERLAYS) {
    describe(overlay, () => {
      it('every resource passes its schema', async () => {
        assert.deepEqual(await schemaErrors(built.get(overlay)!), []);
      });
      it('no resource names an unknown field', () => {
        assert.deepEqual(unknownFieldErrors(built.get(overlay)!), []);
      });
      it('selectors, ports, ConfigMaps, Secrets, claims, service accounts and probes refer to what exists', () => {
        assert.deepEqual([...selectorErrors(built.get(overlay)!), ...referenceErrors(built.get(overlay)!)], []);
      });
      it('pods are restricted (non-root, read-only root, no capabilities, seccomp), with resources, labels and pinned images', () => {
        assert.deepEqual([...podPolicyErrors(built.get(overlay)!), ...labelErrors(built.get(overlay)!)], []);
      });
      it('every GANTRY_* variable set is read by its container\'s role (services/env)', () => {
        assert.deepEqual(unreadEnvNames(built.get(overlay)!), []);
      });
    });
  }

  it('the gpu component puts nvidia.com/gpu in the limits of G, D and the workers, with toleration and node selector', () => {
    const gpu = built.get('cluster')!.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.name !== 'gantry-nats');
    assert.equal(gpu.length, 3);
    for (const o of gpu as any[]) {
      const spec = o.spec.template.spec;
      assert.equal(spec.containers[0].resources.limits['nvidia.com/gpu'], '1', o.metadata.name);
      assert.equal(spec.containers[0].resources.requests['nvidia.com/gpu'], undefined, `${o.metadata.name}: GPUs in limits only`);
      assert.ok(spec.tolerations.some((t: any) => t.key === 'nvidia.com/gpu'), o.metadata.name);
      assert.ok(spec.nodeSelector, o.metadata.name);
    }
  });

  it('only the scheduler mounts the run volume (ReadWriteOnce); G, D and the workers write to no volume but /tmp', () => {
    for (const [overlay, objs] of built) {
      const claim = objs.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'gantry-runs') as any;
      assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce'], `${overlay}: no ReadWriteMany needed`);
      for (const o of objs.filter((x) => ['Deployment', 'StatefulSet'].includes(x.kind)) as any[]) {
        const spec = o.spec.template.spec;
        const claims = (spec.volumes ?? []).filter((v: any) => v.persistentVolumeClaim?.claimName === 'gantry-runs');
        assert.equal(claims.length, o.metadata.name === 'gantry-scheduler' ? 1 : 0, `${overlay} ${o.metadata.name}`);
        if (!['gantry-generator', 'gantry-discriminator', 'gantry-worker'].includes(o.metadata.name)) continue;
        for (const c of spec.containers) {
          const writable = (c.volumeMounts ?? []).filter((m: any) => !m.readOnly).map((m: any) => m.mountPath);
          assert.deepEqual(writable, ['/tmp'], `${overlay} ${o.metadata.name}: writable mounts`);
          assert.ok(!(c.env ?? []).some((e: any) => e.name === 'GANTRY_RUN_DIR'), `${overlay} ${o.metadata.name}: told no run directory`);
        }
      }
    }
  });

  it('the ConfigMap\'s train.json is a valid GAN config', () => {
    const cm = built.get('local')!.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'gantry-config') as any;
    const cfg = parseConfig(ganTrainSchema, JSON.parse(cm.data['train.json']), 'gantry-config train.json');
    assert.equal(cfg.preset, 'dcgan');
  });

  describe('discriminator replicas', () => {
    const find = (objects: readonly K8sObject[], kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
    const trainOf = (objects: readonly K8sObject[]) => JSON.parse(find(objects, 'ConfigMap', 'gantry-config').data['train.json']);
    const labelsOf = (objects: readonly K8sObject[], kind: string, name: string) => find(objects, kind, name).spec.template.metadata.labels as Record<string, string>;
    const selects = (sel: Record<string, string> | undefined, labels: Record<string, string>) => Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);

    /** Pod wiring of a replica group, as discriminatorGroupErrors checks it: pod r of the headless Service is rank r. */
    function wiring(objects: readonly K8sObject[]) {
      const sts = find(objects, 'StatefulSet', 'gantry-discriminator');
      const peers = find(objects, 'Service', sts.spec.serviceName);
      const port = peers.spec.ports.find((p: any) => p.name === 'grpc').port;
      const addresses = Array.from({ length: sts.spec.replicas }, (_, r) => `${sts.metadata.name}-${r}.${peers.metadata.name}:${port}`);
      return {
        ranks: addresses.map((_, r) => podEnv(objects, 'StatefulSet', 'gantry-discriminator', 'discriminator', r)),
        generator: podEnv(objects, 'Deployment', 'gantry-generator', 'generator'),
        scheduler: podEnv(objects, 'Job', 'gantry-scheduler', 'scheduler'),
        train: trainOf(objects),
        addresses,
      };
    }

    it('without the component: one discriminator, no group variables, G and the scheduler call the Service gantry-discriminator', () => {
      for (const overlay of ['local', 'cluster', 'cluster-hpa']) {
        const objects = built.get(overlay)!;
        assert.equal(find(objects, 'StatefulSet', 'gantry-discriminator').spec.replicas, 1, overlay);
        const d = podEnv(objects, 'StatefulSet', 'gantry-discriminator', 'discriminator');
        assert.equal(d.GANTRY_DISCRIMINATOR_ADDRS, undefined, overlay);
        assert.equal(d.GANTRY_DISCRIMINATOR_RANK, undefined, overlay);
        // Rank 0 without the list is one discriminator too (what a component setting only the rank would give).
        const alone = resolveDiscriminatorConfig({ ...d, GANTRY_DISCRIMINATOR_RANK: '0' }, {});
        assert.deepEqual([alone.rank, alone.replicaAddrs], [0, undefined], overlay);
        assert.equal(podEnv(objects, 'Deployment', 'gantry-generator', 'generator').GANTRY_DISCRIMINATOR_ADDR, 'gantry-discriminator:50052', overlay);
        assert.equal(podEnv(objects, 'Job', 'gantry-scheduler', 'scheduler').GANTRY_DISCRIMINATOR_ADDR, 'gantry-discriminator:50052', overlay);
        assert.equal(trainOf(objects).discriminatorReplicas, undefined, overlay);
      }
    });

    it('local-gan-replicas: rank r is pod r of the headless Service; every rank and the scheduler have pods 0..N-1 in order; G calls rank 0; train.json says N', () => {
      const objects = built.get('local-gan-replicas')!;
      const sts = find(objects, 'StatefulSet', 'gantry-discriminator');
      assert.ok(sts.spec.replicas >= 2, `replicas ${sts.spec.replicas}`);
      assert.equal(sts.spec.podManagementPolicy, 'Parallel');
      const peers = find(objects, 'Service', sts.spec.serviceName);
      assert.deepEqual([peers.spec.clusterIP, peers.spec.publishNotReadyAddresses], ['None', true], 'a name per pod, before it is ready');
      const w = wiring(objects);
      assert.deepEqual(discriminatorGroupErrors(w), []);
      assert.equal(w.ranks[1].GANTRY_ADVERTISE_ADDR, 'gantry-discriminator-1.gantry-discriminator-peers:50052');
      const rankEnv = sts.spec.template.spec.containers[0].env.find((e: any) => e.name === 'GANTRY_DISCRIMINATOR_RANK');
      assert.equal(rankEnv.valueFrom.fieldRef.fieldPath, "metadata.labels['apps.kubernetes.io/pod-index']");
      // train.json is a whole copy of the base's (a ConfigMap value cannot be patched by field): it must not drift.
      assert.deepEqual({ ...w.train, discriminatorReplicas: 0 }, { ...trainOf(built.get('local')!), discriminatorReplicas: 0 });
    });

    it('the network policies admit the ring (discriminator <-> discriminator on 50052); no autoscaler or disruption budget touches the group', () => {
      for (const [overlay, objects] of built) {
        const d = labelsOf(objects, 'StatefulSet', 'gantry-discriminator');
        const policies = objects.filter((o) => o.kind === 'NetworkPolicy' && selects((o as any).spec.podSelector.matchLabels, d)) as any[];
        const admits = (dir: 'ingress' | 'egress') => policies.some((p) => (p.spec[dir] ?? []).some((rule: any) =>
          (rule[dir === 'ingress' ? 'from' : 'to'] ?? []).some((peer: any) => peer.podSelector && !peer.namespaceSelector && selects(peer.podSelector.matchLabels, d))
          && (rule.ports ?? []).some((p: any) => p.port === 50052)));
        assert.ok(admits('ingress') && admits('egress'), `${overlay}: D -> D on 50052`);
        for (const o of objects as any[]) {
          if (['HorizontalPodAutoscaler', 'ScaledObject'].includes(o.kind)) assert.notEqual(o.spec.scaleTargetRef.name, 'gantry-discriminator', `${overlay}: the group size is fixed`);
          if (o.kind === 'PodDisruptionBudget') assert.ok(!selects(o.spec.selector.matchLabels, d), `${overlay}: ${o.metadata.name} selects D`);
        }
      }
    });

    it('the ServiceMonitor scrapes each discriminator pod through one Service (the peers Service has no metrics port), keeping its rank label', () => {
      const objects = built.get('cluster')!;
      const sm = objects.find((o) => o.kind === 'ServiceMonitor') as any;
      const d = labelsOf(objects, 'StatefulSet', 'gantry-discriminator');
      const scraped = objects.filter((o: any) => o.kind === 'Service' && selects(sm.spec.selector.matchLabels, o.metadata.labels)
        && selects(o.spec.selector, d) && o.spec.ports.some((p: any) => sm.spec.endpoints.some((e: any) => e.port === p.name)));
      assert.deepEqual(scraped.map((o) => o.metadata.name), ['gantry-discriminator']);
      assert.ok(sm.spec.endpoints.every((e: any) => e.honorLabels === true), 'the rank label the process sets is kept');
    });
  });

  it('the worker TODO list names only variables services/env does not know yet (empty it when the worker is merged)', () => {
    assert.deepEqual(stalePendingNames(), [], 'remove these from TODO_WORKER_PENDING.envNames');
  });

  describe('each check catches a planted mistake', () => {
    const local = () => structuredClone(built.get('local')!);
    const generator = (objs: K8sObject[]) => (objs.find((o) => o.metadata.name === 'gantry-generator' && o.kind === 'Deployment') as any).spec.template.spec;

    it('a wrong type (schema)', async () => {
      const objs = local();
      (objs.find((o) => o.kind === 'StatefulSet') as any).spec.replicas = 'two';
      assert.match((await schemaErrors(objs)).join('\n'), /StatefulSet\/gantry-\w+: .*replicas must be integer/);
    });
    it('a misspelled field (unknown field)', () => {
      const objs = local();
      generator(objs).containers[0].imagePullPolcy = 'Always';
      assert.match(unknownFieldErrors(objs).join('\n'), /Deployment\/gantry-generator: .*'"imagePullPolcy"' does not exist/);
    });
    it('a selector that matches nothing, a missing ConfigMap key, a probe on an undeclared port', () => {
      const objs = local();
      (objs.find((o) => o.kind === 'Service' && o.metadata.name === 'gantry-discriminator') as any).spec.selector['app.kubernetes.io/component'] = 'discriminater';
      generator(objs).containers[0].env.find((e: any) => e.name === 'GANTRY_RUN_ID').valueFrom.configMapKeyRef.key = 'GANTRY_RUNID';
      generator(objs).containers[0].readinessProbe.grpc.port = 50052;
      const errors = [...selectorErrors(objs), ...referenceErrors(objs)].join('\n');
      assert.match(errors, /Service\/gantry-discriminator: spec.selector .* matches no pod template/);
      assert.match(errors, /ConfigMap gantry-config has no key GANTRY_RUNID/);
      assert.match(errors, /Deployment\/gantry-generator container generator: readinessProbe port 50052 is not a port of the container/);
    });
    it('an env variable used by $(NAME) above its definition', () => {
      const objs = local();
      const worker = (objs.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'gantry-worker') as any).spec.template.spec.containers[0];
      worker.env.reverse();
      assert.match(referenceErrors(objs).join('\n'), /StatefulSet\/gantry-worker container worker env GANTRY_ADVERTISE_ADDR: \$\(POD_NAME\) is not set above it/);
    });
    it('a replica group with a short address list, the generator on the Service, a train.json of another N', () => {
      const objs = structuredClone(built.get('local-gan-replicas')!);
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'gantry-config') as any;
      cm.data.GANTRY_DISCRIMINATOR_ADDRS = cm.data.GANTRY_DISCRIMINATOR_ADDRS.split(',')[0];
      cm.data['train.json'] = JSON.stringify({ ...JSON.parse(cm.data['train.json']), discriminatorReplicas: 4 });
      generator(objs).containers[0].env.find((e: any) => e.name === 'GANTRY_DISCRIMINATOR_ADDR').value = 'gantry-discriminator:50052';
      const sts = objs.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'gantry-discriminator') as any;
      const peers = 'gantry-discriminator-peers';
      const addresses = [0, 1].map((r) => `gantry-discriminator-${r}.${peers}:50052`);
      const errors = discriminatorGroupErrors({
        ranks: [0, 1].map((r) => podEnv(objs, 'StatefulSet', sts.metadata.name, 'discriminator', r)),
        generator: podEnv(objs, 'Deployment', 'gantry-generator', 'generator'),
        scheduler: podEnv(objs, 'Job', 'gantry-scheduler', 'scheduler'),
        train: JSON.parse(cm.data['train.json']),
        addresses,
      }).join('\n');
      assert.match(errors, /train.json: discriminatorReplicas is 4, but 2 discriminator processes run/);
      assert.match(errors, /discriminator 0: GANTRY_DISCRIMINATOR_ADDRS is gantry-discriminator-0\.gantry-discriminator-peers:50052, expected/);
      assert.match(errors, /discriminator rank 1: .*rank/);
      assert.match(errors, /generator: GANTRY_DISCRIMINATOR_ADDR is gantry-discriminator:50052, expected rank 0's/);
      assert.match(errors, /scheduler: GANTRY_DISCRIMINATOR_ADDRS is gantry-discriminator-0/);
    });
    it('a writable root filesystem, a missing label, a typo in a GANTRY_* name, a variable of another role', () => {
      const objs = local();
      generator(objs).containers[0].securityContext.readOnlyRootFilesystem = false;
      delete (objs.find((o) => o.kind === 'Secret') as any).metadata.labels['app.kubernetes.io/component'];
      generator(objs).containers[0].env.push({ name: 'GANTRY_DISCRIMNATOR_ADDR', value: 'x:1' }, { name: 'GANTRY_GENERATOR_ADDR', value: 'x:1' });
      assert.match(podPolicyErrors(objs).join('\n'), /gantry-generator container generator: securityContext.readOnlyRootFilesystem must be true/);
      assert.match(labelErrors(objs).join('\n'), /Secret\/gantry-nats: label app.kubernetes.io\/component is missing/);
      assert.match(unreadEnvNames(objs).join('\n'), /GANTRY_DISCRIMNATOR_ADDR is read by no service/);
      assert.match(unreadEnvNames(objs).join('\n'), /container generator: GANTRY_GENERATOR_ADDR is not read by the generator/);
    });
  });
});

it('k8s/components/monitoring/prometheusrule.yaml is generated from deploy/prometheus/rules (run scripts/gen-k8s-rules.ts)', () => {
  assert.equal(readFileSync(PROMETHEUS_RULE_FILE, 'utf8'), renderPrometheusRule());
});
