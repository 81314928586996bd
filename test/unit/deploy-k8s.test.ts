// Offline validation of k8s/: every overlay builds with `kubectl kustomize`; every resource passes
// its schema (kubernetes-models, the KEDA and prometheus-operator models) and names no unknown
// field; selectors, ports, ConfigMaps, Secrets, claims, service accounts and probes refer to
// things that exist; pods meet the restricted Pod Security Standard with resources, labels and
// pinned images; every GANTRY_* variable set is one the services read. Then each check is shown
// to catch a planted mistake, and the generated PrometheusRule is shown to be current.
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

  it('the overlays are local, local-classifier, cluster and cluster-hpa, and each builds the whole application', () => {
    assert.deepEqual(OVERLAYS, ['cluster', 'cluster-hpa', 'local', 'local-classifier']);
    for (const [name, objects] of built) {
      const kinds = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
      for (const want of ['StatefulSet/gantry-nats', 'Deployment/gantry-generator', 'Deployment/gantry-discriminator', 'Job/gantry-scheduler',
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
    for (const d of ['gantry-generator', 'gantry-discriminator']) assert.equal(find('Deployment', d).spec.replicas, 0, d);
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
