// Writes k8s/components/monitoring/prometheusrule.yaml from deploy/prometheus/rules/*.rules.yml: the
// same alerting and recording rule groups, as one prometheus-operator PrometheusRule, so Compose
// and Kubernetes load one set of rules. A test fails when the generated file is stale.
//   node --import tsx scripts/gen-k8s-rules.ts [--check]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const RULES_DIR = path.join(ROOT, 'deploy/prometheus/rules');
export const PROMETHEUS_RULE_FILE = path.join(ROOT, 'k8s/components/monitoring/prometheusrule.yaml');

interface RuleFile {
  groups: { name: string; rules: unknown[] }[];
}

/** The PrometheusRule manifest text for the rule files in `dir` (sorted by name, groups in file order). */
export function renderPrometheusRule(dir: string = RULES_DIR): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.rules.yml')).sort(); // what Prometheus loads (rule_files)
  const groups = files.flatMap((f) => {
    const doc = parse(readFileSync(path.join(dir, f), 'utf8')) as RuleFile | null;
    if (!doc || !Array.isArray(doc.groups)) throw new Error(`${path.join(dir, f)}: expected a Prometheus rule file with a 'groups' list`);
    return doc.groups;
  });
  const manifest = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'gantry',
      labels: { 'app.kubernetes.io/name': 'gantry', 'app.kubernetes.io/component': 'monitoring' },
    },
    spec: { groups },
  };
  const header = [
    '# Generated from deploy/prometheus/rules/*.rules.yml by scripts/gen-k8s-rules.ts: do not edit.',
    `# Sources: ${files.join(', ')}`,
  ].join('\n');
  return `${header}\n${stringify(manifest, { lineWidth: 0 })}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderPrometheusRule();
  if (process.argv.includes('--check')) {
    const current = readFileSync(PROMETHEUS_RULE_FILE, 'utf8');
    if (current !== text) {
      console.error(`${PROMETHEUS_RULE_FILE} is stale: run node --import tsx scripts/gen-k8s-rules.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(PROMETHEUS_RULE_FILE, text);
    console.log(`wrote ${PROMETHEUS_RULE_FILE}`);
  }
}
