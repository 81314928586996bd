// What schemas cannot see in a set of Kubernetes manifests: references between objects (selectors,
// ports, ConfigMaps, Secrets, claims, service accounts, scale targets), probes on real ports, the
// restricted Pod Security Standard, resources, the common labels and pinned images. Each check
// returns one message per problem, naming the object and the field.
import type { EnvSetting } from './deploy-env.ts';
import { describeObject, type K8sObject } from './k8s-models.ts';
import { envReferences } from './k8s-pod-env.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON here */
type Json = any;

export const COMMON_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/component', 'app.kubernetes.io/part-of', 'app.kubernetes.io/instance'] as const;

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

interface Template {
  owner: K8sObject;
  labels: Record<string, string>;
  spec: Json; // PodSpec
}

export function podTemplates(objects: readonly K8sObject[]): Template[] {
  return objects.filter((o) => WORKLOADS.has(o.kind)).map((o) => {
    const t = (o as Json).spec?.template ?? {};
    return { owner: o, labels: t.metadata?.labels ?? {}, spec: t.spec ?? {} };
  });
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return true;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function containers(spec: Json): Json[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

function hasPort(tpls: readonly Template[], port: string | number): boolean {
  return tpls.some((t) => containers(t.spec).some((c) => (c.ports ?? []).some((p: Json) => (typeof port === 'number' ? p.containerPort === port : p.name === port))));
}

const find = (objects: readonly K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

/** Service, PodDisruptionBudget, NetworkPolicy and ServiceMonitor selectors each select something real, on real ports. */
export function selectorErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const tpls = podTemplates(objects);
  const selected = (sel: Record<string, string> | undefined) => tpls.filter((t) => matches(sel, t.labels));
  for (const o of objects as Json[]) {
    const name = describeObject(o);
    if (o.kind === 'Service' && o.spec?.selector) {
      const pods = selected(o.spec.selector);
      if (pods.length === 0) errors.push(`${name}: spec.selector ${JSON.stringify(o.spec.selector)} matches no pod template`);
      for (const p of o.spec.ports ?? []) {
        const target = p.targetPort ?? p.port;
        if (pods.length && !hasPort(pods, target)) errors.push(`${name}: port ${p.name ?? p.port} targets ${target}, which no selected container declares`);
      }
    }
    if (o.kind === 'PodDisruptionBudget' && selected(o.spec?.selector?.matchLabels).length === 0) {
      errors.push(`${name}: spec.selector matches no pod template`);
    }
    if (o.kind === 'NetworkPolicy') {
      const pods = selected(o.spec?.podSelector?.matchLabels);
      if (pods.length === 0) errors.push(`${name}: spec.podSelector matches no pod template`);
      for (const rule of o.spec?.ingress ?? []) {
        for (const p of rule.ports ?? []) if (!hasPort(pods, p.port)) errors.push(`${name}: ingress port ${p.port} is no container port of the selected pods`);
      }
      for (const rule of o.spec?.egress ?? []) {
        for (const peer of rule.to ?? []) {
          if (!peer.podSelector || peer.namespaceSelector) continue; // another namespace (DNS): not ours to check
          const peers = selected(peer.podSelector.matchLabels);
          if (peers.length === 0) errors.push(`${name}: egress podSelector ${JSON.stringify(peer.podSelector.matchLabels)} matches no pod template`);
          for (const p of rule.ports ?? []) if (peers.length && !hasPort(peers, p.port)) errors.push(`${name}: egress port ${p.port} is no container port of the peer pods`);
        }
      }
    }
    if (o.kind === 'ServiceMonitor') {
      const services = objects.filter((s: Json) => s.kind === 'Service' && matches(o.spec?.selector?.matchLabels, s.metadata?.labels));
      if (services.length === 0) errors.push(`${name}: spec.selector matches no Service`);
      for (const e of o.spec?.endpoints ?? []) {
        if (!services.some((s: Json) => (s.spec?.ports ?? []).some((p: Json) => p.name === e.port))) errors.push(`${name}: endpoint port ${e.port} is no port of a selected Service`);
      }
    }
  }
  return errors;
}

/** Probes, ConfigMaps, Secrets, claims, service accounts, governing Services and scale targets
 *  exist; every $(NAME) in an env value names an entry above it. */
export function referenceErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const dataKeys = (kind: 'ConfigMap' | 'Secret', n: string): string[] | undefined => {
    const o = find(objects, kind, n) as Json;
    return o ? [...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})] : undefined;
  };
  const needKey = (where: string, kind: 'ConfigMap' | 'Secret', ref: Json) => {
    const keys = dataKeys(kind, ref.name);
    if (!keys) errors.push(`${where}: ${kind} ${ref.name} does not exist`);
    else if (ref.key !== undefined && !keys.includes(ref.key)) errors.push(`${where}: ${kind} ${ref.name} has no key ${ref.key}`);
  };
  for (const t of podTemplates(objects)) {
    const owner = describeObject(t.owner);
    const spec = t.spec;
    const sa = spec.serviceAccountName;
    if (sa && !find(objects, 'ServiceAccount', sa)) errors.push(`${owner}: serviceAccountName ${sa} does not exist`);
    const claimTemplates: string[] = ((t.owner as Json).spec?.volumeClaimTemplates ?? []).map((v: Json) => v.metadata?.name);
    const volumes: string[] = [...(spec.volumes ?? []).map((v: Json) => v.name), ...claimTemplates];
    for (const v of spec.volumes ?? []) {
      if (v.persistentVolumeClaim && !find(objects, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) {
        errors.push(`${owner}: volume ${v.name} claims ${v.persistentVolumeClaim.claimName}, which does not exist`);
      }
      if (v.configMap) for (const item of v.configMap.items ?? [{}]) needKey(`${owner}: volume ${v.name}`, 'ConfigMap', { name: v.configMap.name, key: item.key });
      if (v.secret) for (const item of v.secret.items ?? [{}]) needKey(`${owner}: volume ${v.name}`, 'Secret', { name: v.secret.secretName, key: item.key });
    }
    for (const c of containers(spec)) {
      const where = `${owner} container ${c.name}`;
      for (const m of c.volumeMounts ?? []) if (!volumes.includes(m.name)) errors.push(`${where}: volumeMount ${m.name} names no volume`);
      const earlier = new Set<string>();
      for (const e of c.env ?? []) {
        if (e.valueFrom?.configMapKeyRef) needKey(`${where} env ${e.name}`, 'ConfigMap', e.valueFrom.configMapKeyRef);
        if (e.valueFrom?.secretKeyRef) needKey(`${where} env ${e.name}`, 'Secret', e.valueFrom.secretKeyRef);
        // The kubelet expands $(NAME) only from entries above this one; otherwise the text stays literal.
        for (const ref of envReferences(e.value ?? '')) {
          if (!earlier.has(ref)) errors.push(`${where} env ${e.name}: $(${ref}) is not set above it, so it is not expanded`);
        }
        earlier.add(e.name);
      }
      for (const e of c.envFrom ?? []) {
        if (e.configMapRef) needKey(`${where} envFrom`, 'ConfigMap', { name: e.configMapRef.name });
        if (e.secretRef) needKey(`${where} envFrom`, 'Secret', { name: e.secretRef.name });
      }
      for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        const p = c[kind];
        if (!p) continue;
        const port = p.httpGet?.port ?? p.tcpSocket?.port ?? p.grpc?.port;
        if (port === undefined) continue; // exec probes
        const declared = (c.ports ?? []).some((x: Json) => (typeof port === 'number' ? x.containerPort === port : x.name === port));
        if (!declared) errors.push(`${where}: ${kind} port ${port} is not a port of the container`);
      }
    }
  }
  for (const o of objects as Json[]) {
    if (o.kind === 'StatefulSet') {
      const svc = find(objects, 'Service', o.spec?.serviceName) as Json;
      if (!svc) errors.push(`${describeObject(o)}: serviceName ${o.spec?.serviceName} does not exist`);
      else if (svc.spec?.clusterIP !== 'None') errors.push(`${describeObject(o)}: governing Service ${svc.metadata.name} is not headless`);
    }
    const target = o.spec?.scaleTargetRef;
    if ((o.kind === 'ScaledObject' || o.kind === 'HorizontalPodAutoscaler') && !find(objects, target?.kind, target?.name)) {
      errors.push(`${describeObject(o)}: scaleTargetRef ${target?.kind}/${target?.name} does not exist`);
    }
  }
  return errors;
}

/** The restricted Pod Security Standard, resources on every container, and images pinned by tag. */
export function podPolicyErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  for (const t of podTemplates(objects)) {
    const owner = describeObject(t.owner);
    const pod = t.spec.securityContext ?? {};
    if (pod.seccompProfile?.type !== 'RuntimeDefault') errors.push(`${owner}: securityContext.seccompProfile.type must be RuntimeDefault`);
    if (t.spec.hostNetwork || t.spec.hostPID || t.spec.hostIPC) errors.push(`${owner}: host namespaces are not allowed`);
    for (const c of containers(t.spec)) {
      const where = `${owner} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) errors.push(`${where}: runAsNonRoot must be true`);
      if ((sc.runAsUser ?? pod.runAsUser) === 0) errors.push(`${where}: runAsUser must not be 0`);
      if (sc.allowPrivilegeEscalation !== false) errors.push(`${where}: securityContext.allowPrivilegeEscalation must be false`);
      if (sc.readOnlyRootFilesystem !== true) errors.push(`${where}: securityContext.readOnlyRootFilesystem must be true`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) errors.push(`${where}: securityContext.capabilities.drop must include ALL`);
      if ((sc.capabilities?.add ?? []).length) errors.push(`${where}: securityContext.capabilities.add must be empty`);
      for (const r of ['requests.cpu', 'requests.memory', 'limits.memory'] as const) {
        const [k, q] = r.split('.');
        if (c.resources?.[k]?.[q] === undefined) errors.push(`${where}: resources.${r} is not set`);
      }
      const image: string = c.image ?? '';
      const tag = image.includes('@') ? 'digest' : image.slice(image.lastIndexOf('/') + 1).split(':')[1];
      if (!tag || tag === 'latest') errors.push(`${where}: image ${image} is not pinned by tag`);
    }
  }
  return errors;
}

/** The app.kubernetes.io/{name,component,part-of,instance} labels on every object and pod template. */
export function labelErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const check = (where: string, labels: Record<string, string> | undefined) => {
    for (const l of COMMON_LABELS) if (!labels?.[l]) errors.push(`${where}: label ${l} is missing`);
  };
  for (const o of objects) check(describeObject(o), o.metadata?.labels);
  for (const t of podTemplates(objects)) check(`${describeObject(t.owner)} pod template`, t.labels);
  return errors;
}

/** GANTRY_* settings of the manifests: container env (with the container's role, its component
 *  label) and the keys of ConfigMaps and Secrets. */
export function gantryEnvSettings(objects: readonly K8sObject[]): EnvSetting[] {
  const out: EnvSetting[] = [];
  for (const t of podTemplates(objects)) {
    const role = t.labels['app.kubernetes.io/component'];
    for (const c of containers(t.spec)) {
      for (const e of c.env ?? []) out.push({ name: e.name, where: `${describeObject(t.owner)} container ${c.name}`, role });
    }
  }
  for (const o of objects as Json[]) {
    if (o.kind !== 'ConfigMap' && o.kind !== 'Secret') continue;
    for (const k of [...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})]) out.push({ name: k, where: describeObject(o) });
  }
  return out;
}
