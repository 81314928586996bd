// The environment the kubelet gives a container of a workload's pod, computed offline from built
// manifests, so a test can hand a pod's real environment to the services' own config parsers.
// Covered: literal values with $(VAR) expanded from earlier entries (a later or unknown name
// stays literal, as in the kubelet; `$$` escapes), ConfigMap and Secret keys, and the downward
// API fields the manifests use. Pod R of a StatefulSet is named NAME-R and carries the labels
// apps.kubernetes.io/pod-index=R and statefulset.kubernetes.io/pod-name (Kubernetes >= 1.28).
import { describeObject, type K8sObject } from './k8s-models.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON here */
type Json = any;

export class PodEnvError extends Error {
  override readonly name = 'PodEnvError';
  constructor(
    /** What could not be resolved: the workload, container, ConfigMap/Secret key or field path. */
    readonly kind: 'workload' | 'container' | 'key' | 'fieldPath' | 'ordinal',
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const REF = /\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g;

/** The names a value refers to with $(NAME) (escaped `$$(NAME)` excluded). */
export function envReferences(value: string): string[] {
  return [...value.matchAll(REF)].filter((m) => m[1] !== undefined).map((m) => m[1]);
}

function expand(value: string, defined: Record<string, string>): string {
  return value.replace(REF, (whole, name: string | undefined) => (name === undefined ? '$' : (defined[name] ?? whole)));
}

/** The pod's metadata as the API server would fill it in for ordinal `ordinal`. */
function podMetadata(owner: Json, ordinal: number): { name: string; namespace: string; labels: Record<string, string> } {
  const labels: Record<string, string> = { ...(owner.spec?.template?.metadata?.labels ?? {}) };
  let name = `${owner.metadata.name}-pod`;
  if (owner.kind === 'StatefulSet') {
    if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= (owner.spec.replicas ?? 1)) {
      throw new PodEnvError('ordinal', String(ordinal), `${describeObject(owner)}: no pod ${ordinal} (replicas ${owner.spec.replicas ?? 1})`);
    }
    name = `${owner.metadata.name}-${ordinal}`;
    labels['apps.kubernetes.io/pod-index'] = String(ordinal);
    labels['statefulset.kubernetes.io/pod-name'] = name;
  }
  return { name, namespace: owner.metadata.namespace ?? 'default', labels };
}

function fieldValue(meta: ReturnType<typeof podMetadata>, path: string, where: string): string {
  if (path === 'metadata.name') return meta.name;
  if (path === 'metadata.namespace') return meta.namespace;
  const label = /^metadata\.labels\['([^']+)'\]$/.exec(path);
  if (label && meta.labels[label[1]] !== undefined) return meta.labels[label[1]];
  throw new PodEnvError('fieldPath', path, `${where}: fieldRef ${path} gives nothing on this pod`);
}

function keyValue(objects: readonly K8sObject[], kind: 'ConfigMap' | 'Secret', ref: Json, where: string): string {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === ref.name) as Json;
  const data = { ...(o?.data ?? {}), ...(o?.stringData ?? {}) };
  if (!o || data[ref.key] === undefined) throw new PodEnvError('key', `${ref.name}/${ref.key}`, `${where}: ${kind} ${ref.name} has no key ${ref.key}`);
  // A Secret's `data` is base64; these manifests use stringData, which stays as written.
  return kind === 'Secret' && o.stringData?.[ref.key] === undefined ? Buffer.from(data[ref.key], 'base64').toString('utf8') : data[ref.key];
}

/** The environment of container `container` in pod `ordinal` of workload kind/name, in order. */
export function podEnv(objects: readonly K8sObject[], kind: string, name: string, container: string, ordinal = 0): Record<string, string> {
  const owner = objects.find((o) => o.kind === kind && o.metadata.name === name) as Json;
  if (!owner) throw new PodEnvError('workload', `${kind}/${name}`, `no ${kind}/${name} in the manifests`);
  const c = (owner.spec?.template?.spec?.containers ?? []).find((x: Json) => x.name === container);
  if (!c) throw new PodEnvError('container', container, `${kind}/${name} has no container ${container}`);
  const meta = podMetadata(owner, ordinal);
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const where = `${kind}/${name} container ${container} env ${e.name}`;
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = keyValue(objects, 'ConfigMap', e.valueFrom.configMapKeyRef, where);
    else if (e.valueFrom?.secretKeyRef) env[e.name] = keyValue(objects, 'Secret', e.valueFrom.secretKeyRef, where);
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldValue(meta, e.valueFrom.fieldRef.fieldPath, where);
    else env[e.name] = '';
  }
  return env;
}
