// Offline validation of Kubernetes manifests against their schemas, in two passes:
//   1. kubernetes-models (Kubernetes 1.33 schemas; the KEDA and prometheus-operator model
//      packages for their resources): wrong types, missing required fields, bad quantities.
//   2. Unknown field names, which those schemas let through: every resource is typed as the
//      package's interface (IDeployment, IScaledObject, ...) in a generated TypeScript file, and
//      the compiler's excess-property check names each field no schema declares.
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from './docker.ts';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export function describeObject(o: K8sObject): string {
  return `${o.kind}/${o.metadata?.name}`;
}

/** The module exporting the model class `kind` and its interface `I<kind>`. */
export function modelModule(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${kind}`;
  return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

type ModelClass = new (data: unknown) => { validate(): void };

/** Pass 1: each object through its model's validate(); one message per invalid object. */
export async function schemaErrors(objects: readonly K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    let Model: ModelClass | undefined;
    try {
      Model = ((await import(modelModule(o.apiVersion, o.kind))) as Record<string, ModelClass>)[o.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      errors.push(`${describeObject(o)}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      errors.push(`${describeObject(o)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return errors;
}

/** Pass 2: unknown field names, from TypeScript's excess-property check against the model interfaces. */
export function unknownFieldErrors(objects: readonly K8sObject[]): string[] {
  // A virtual file inside the repository, so `kubernetes-models` resolves from its node_modules.
  const file = path.join(REPO_ROOT, 'test', '__k8s_manifests__.ts');
  const lines: string[] = [];
  const owner: { line: number; object: K8sObject }[] = [];
  objects.forEach((o, i) => {
    lines.push(`import type { I${o.kind} as T${i} } from ${JSON.stringify(modelModule(o.apiVersion, o.kind))};`);
  });
  objects.forEach((o, i) => {
    owner.push({ line: lines.length, object: o });
    lines.push(`export const r${i}: T${i} = ${JSON.stringify(o)};`); // one line per object: diagnostics map back by line
  });
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === file ? text : readFile(f));
  host.fileExists = ((exists) => (f: string) => path.resolve(f) === file || exists(f))(host.fileExists.bind(host));
  host.getSourceFile = (f, lang, onError, create) =>
    path.resolve(f) === file ? ts.createSourceFile(f, text, lang, true) : getSourceFile(f, lang, onError, create);
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
    const at = [...owner].reverse().find((x) => x.line <= line);
    const where = at ? describeObject(at.object) : 'manifests';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
