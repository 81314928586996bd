// Comparing two checkpoints tensor by tensor: the project's equivalence check (a distributed run
// and an in-process run with the same seed must agree within float32 round-off).
// Per tensor:  maxAbsDiff = max_i |a_i - b_i|
//              maxRelDiff = maxAbsDiff / max(max_i |a_i|, max_i |b_i|, 1e-12)
// i.e. relative to the tensor's scale, so near-zero elements do not blow the ratio up. NaN at the
// same place in both counts as equal; any other non-finite difference is Infinity (never passes).
import { readCheckpoint, type LoadedCheckpoint } from './checkpoint.ts';
import { resolveCheckpoint } from './checkpoint-list.ts';
import type { ModelRole } from './manifest.ts';
import type { TensorEntry } from './tensor-entry.ts';

export const DEFAULT_TOLERANCE = 1e-5;
export const DIFF_REPORT_FORMAT = 'gantry-checkpoint-diff/1';

export interface TensorDiff {
  role: ModelRole;
  /** 'weights' (<role>.safetensors) or 'optimizer' (<role>.optim.safetensors). */
  group: 'weights' | 'optimizer';
  name: string;
  shape: number[];
  maxAbsDiff: number;
  maxRelDiff: number;
}

export interface DiffMismatch {
  problem: 'kind' | 'missing-model' | 'missing-tensor' | 'shape';
  role?: ModelRole;
  group?: 'weights' | 'optimizer';
  name?: string;
  shapeA?: number[] | null;
  shapeB?: number[] | null;
  message: string;
}

export interface DiffReport {
  format: typeof DIFF_REPORT_FORMAT;
  a: string;
  b: string;
  iterations: { a: number; b: number };
  tolerance: number;
  includeOptimizer: boolean;
  tensors: TensorDiff[];
  mismatches: DiffMismatch[];
  /** Differences that are not tensors (optimizer step, hyper-parameters, arch); steps count as failures. */
  notes: string[];
  maxAbsDiff: number;
  maxRelDiff: number;
  worst: { role: ModelRole; group: string; name: string } | null;
  /** equal: exit 0; different: above tolerance, exit 1; mismatch: structure differs, exit 2. */
  status: 'equal' | 'different' | 'mismatch';
}

export interface DiffOptions {
  tolerance?: number;
  includeOptimizer?: boolean;
  /** Receives a line for each damaged checkpoint skipped while finding a run's latest. */
  onWarning?: (warning: string) => void;
}

/** max |a-b| and the scale-relative difference of two equal-length arrays, in float64. */
export function compareArrays(a: Float32Array, b: Float32Array): { maxAbsDiff: number; maxRelDiff: number } {
  let scale = 0;
  let maxAbsDiff = 0;
  let nonFinite = false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    const ax = Math.abs(x);
    const ay = Math.abs(y);
    if (ax > scale && ax !== Infinity) scale = ax;
    if (ay > scale && ay !== Infinity) scale = ay;
    if (x === y || (x !== x && y !== y)) continue;
    const d = Math.abs(x - y);
    if (!Number.isFinite(d)) nonFinite = true;
    else if (d > maxAbsDiff) maxAbsDiff = d;
  }
  if (nonFinite) return { maxAbsDiff: Infinity, maxRelDiff: Infinity };
  return { maxAbsDiff, maxRelDiff: maxAbsDiff / Math.max(scale, 1e-12) };
}

const shapeText = (s: readonly number[] | null | undefined): string => (s ? `[${s.join(', ')}]` : 'absent');

/** A tensor present on one side only, or with different shapes: structure, not values, differ. */
function tensorMismatch(role: ModelRole, group: TensorDiff['group'], name: string, shapeA: number[] | null, shapeB: number[] | null): DiffMismatch {
  const where = `${role} ${group} tensor "${name}"`;
  const message =
    shapeA === null ? `${where}: missing in A, in B with shape ${shapeText(shapeB)}`
    : shapeB === null ? `${where}: in A with shape ${shapeText(shapeA)}, missing in B`
    : `${where}: shape ${shapeText(shapeA)} in A, ${shapeText(shapeB)} in B`;
  return { problem: shapeA && shapeB ? 'shape' : 'missing-tensor', role, group, name, shapeA, shapeB, message };
}

function diffGroup(report: DiffReport, role: ModelRole, group: TensorDiff['group'], as: TensorEntry[], bs: TensorEntry[]): void {
  const byName = new Map(bs.map((t) => [t.name, t]));
  for (const ta of as) {
    const tb = byName.get(ta.name);
    byName.delete(ta.name);
    if (!tb || ta.shape.join(',') !== tb.shape.join(',')) {
      report.mismatches.push(tensorMismatch(role, group, ta.name, ta.shape, tb?.shape ?? null));
    } else {
      report.tensors.push({ role, group, name: ta.name, shape: ta.shape, ...compareArrays(ta.data, tb.data) });
    }
  }
  for (const tb of byName.values()) report.mismatches.push(tensorMismatch(role, group, tb.name, null, tb.shape));
}

function noteOptimizer(report: DiffReport, role: ModelRole, a: LoadedCheckpoint, b: LoadedCheckpoint): boolean {
  const oa = a.models.get(role)!.optimizer;
  const ob = b.models.get(role)!.optimizer;
  let stepDiffers = false;
  if (oa.step !== ob.step) {
    report.notes.push(`${role} optimizer step: ${oa.step} in A, ${ob.step} in B`);
    stepDiffers = true;
  }
  const keys = new Set([...Object.keys(oa.hyper), ...Object.keys(ob.hyper)]);
  for (const k of keys) {
    if (oa.hyper[k] !== ob.hyper[k]) report.notes.push(`${role} optimizer ${k}: ${oa.hyper[k]} in A, ${ob.hyper[k]} in B`);
  }
  return stepDiffers;
}

/** Compares two loaded checkpoints. */
export function diffLoaded(a: LoadedCheckpoint, b: LoadedCheckpoint, opts: DiffOptions = {}): DiffReport {
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
  const includeOptimizer = opts.includeOptimizer ?? false;
  const report: DiffReport = {
    format: DIFF_REPORT_FORMAT, a: a.dir, b: b.dir, iterations: { a: a.manifest.iteration, b: b.manifest.iteration },
    tolerance, includeOptimizer, tensors: [], mismatches: [], notes: [], maxAbsDiff: 0, maxRelDiff: 0, worst: null, status: 'equal',
  };
  if (a.manifest.kind !== b.manifest.kind) {
    report.mismatches.push({ problem: 'kind', message: `checkpoint kind: ${a.manifest.kind} in A, ${b.manifest.kind} in B` });
  }
  let stepDiffers = false;
  const roles = new Set([...a.models.keys(), ...b.models.keys()]);
  for (const role of roles) {
    const ma = a.models.get(role);
    const mb = b.models.get(role);
    if (!ma || !mb) {
      report.mismatches.push({ problem: 'missing-model', role, message: `model ${role}: missing in ${ma ? 'B' : 'A'}` });
      continue;
    }
    const [archA, archB] = [JSON.stringify(ma.arch), JSON.stringify(mb.arch)];
    if (archA !== archB) report.notes.push(`${role} arch differs: ${archA} in A, ${archB} in B`);
    diffGroup(report, role, 'weights', ma.tensors, mb.tensors);
    if (includeOptimizer) {
      diffGroup(report, role, 'optimizer', ma.optimizer.slots, mb.optimizer.slots);
      stepDiffers = noteOptimizer(report, role, a, b) || stepDiffers;
    }
  }
  summarize(report, stepDiffers);
  return report;
}

function summarize(report: DiffReport, stepDiffers: boolean): void {
  for (const t of report.tensors) {
    if (t.maxAbsDiff > report.maxAbsDiff) report.maxAbsDiff = t.maxAbsDiff;
    if (report.worst === null || t.maxRelDiff > report.maxRelDiff) {
      report.maxRelDiff = t.maxRelDiff;
      report.worst = { role: t.role, group: t.group, name: t.name };
    }
  }
  if (report.mismatches.length > 0) report.status = 'mismatch';
  else if (report.maxRelDiff > report.tolerance || stepDiffers) report.status = 'different';
}

/** Resolves both sides (checkpoint or run directory), loads them with verification, compares. */
export async function diffCheckpoints(pathA: string, pathB: string, opts: DiffOptions = {}): Promise<DiffReport> {
  const find = { onWarning: opts.onWarning };
  const a = await readCheckpoint(await resolveCheckpoint(pathA, find));
  const b = await readCheckpoint(await resolveCheckpoint(pathB, find));
  return diffLoaded(a, b, opts);
}

/** The report as JSON; Infinity (a non-finite difference) is written as null. */
export function diffReportJson(report: DiffReport): string {
  return JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

const num = (x: number): string => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(3) : String(x));

/** A table, one row per tensor (above-tolerance rows marked *), then the summary line. */
export function formatDiffText(report: DiffReport): string {
  const rows = report.tensors.map((t) => [
    t.maxRelDiff > report.tolerance ? '*' : ' ',
    t.role,
    t.group === 'weights' ? t.name : `optim:${t.name}`,
    shapeText(t.shape),
    num(t.maxAbsDiff),
    num(t.maxRelDiff),
  ]);
  const header = [' ', 'model', 'tensor', 'shape', 'max abs diff', 'max rel diff'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [`A: ${report.a} (iteration ${report.iterations.a})`, `B: ${report.b} (iteration ${report.iterations.b})`, line(header)];
  out.push(...rows.map(line));
  for (const m of report.mismatches) out.push(`MISMATCH ${m.message}`);
  for (const n of report.notes) out.push(`note: ${n}`);
  const worst = report.worst ? ` (${report.worst.role} ${report.worst.group === 'weights' ? '' : 'optim:'}${report.worst.name})` : '';
  const verdict = { equal: 'PASS', different: 'FAIL', mismatch: 'MISMATCH' }[report.status];
  out.push(
    `overall: max rel diff ${num(report.maxRelDiff)}${worst}, max abs diff ${num(report.maxAbsDiff)}, ` +
      `${report.tensors.length} tensors, tolerance ${report.tolerance}: ${verdict}`,
  );
  return out.join('\n') + '\n';
}
