// What the image must be, read from deploy/Dockerfile and .dockerignore (the e2e test builds and
// runs it): a glibc Node 20 base (tfjs-node's libtensorflow needs glibc), multi-stage with the
// runtime as the default target, production dependencies only, a non-root user in every final
// stage, OCI labels, a health check, and no `# syntax=` line (it would pull a frontend image).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { SERVICE_NODE_FLAGS } from '../../services/launcher/node-flags.ts';
import { DEPLOY_DIR, REPO_ROOT } from '../harness/docker.ts';
import { envNameErrors } from '../harness/deploy-env.ts';

const dockerfile = readFileSync(path.join(DEPLOY_DIR, 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n');
const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)/gm)].map((m) => ({ from: m[1], name: m[2] }));

/** The instructions of one stage, up to the next FROM. */
function stage(name: string): string {
  const start = lines.findIndex((l) => new RegExp(`^FROM\\s+\\S+\\s+AS\\s+${name}$`).test(l));
  assert.ok(start >= 0, `stage ${name} exists`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('FROM '));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

it('bases: official glibc Node 20 (not Alpine) and CUDA 11.2 + cuDNN 8 for the gpu target', () => {
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
  assert.match(dockerfile, /^ARG CUDA_IMAGE=nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu\d+\.\d+$/m);
  for (const l of lines.filter((x) => /^(FROM|ARG)\s/.test(x))) assert.doesNotMatch(l, /alpine/i, l);
  assert.doesNotMatch(dockerfile, /^# syntax=/m);
});

it('multi-stage: dependencies apart, runtime (wasm) is the default target, cpu and gpu targets add tfjs-node', () => {
  assert.deepEqual(stages.map((s) => s.name), ['node', 'deps-all', 'deps', 'deps-cpu', 'deps-gpu', 'base', 'cpu', 'gpu', 'runtime']);
  assert.match(stage('deps-all'), /npm ci --omit=dev --ignore-scripts/);
  assert.match(stage('deps'), /rm -rf node_modules\/@tensorflow\/tfjs-node node_modules\/@tensorflow\/tfjs-node-gpu/);
  assert.match(stage('deps-cpu'), /npm rebuild @tensorflow\/tfjs-node$/m);
  assert.match(stage('deps-gpu'), /npm rebuild @tensorflow\/tfjs-node-gpu$/m);
  assert.match(stage('runtime'), /COPY --from=deps \/app\/node_modules/);
});

it('every final stage runs as a non-root user, with a health check, OCI labels and `gantry` (with the service V8 flags) as the entrypoint', () => {
  for (const name of ['cpu', 'gpu', 'runtime']) assert.match(stage(name), /^USER 1000:1000$/m, `${name}: non-root`);
  for (const name of ['base', 'gpu']) {
    const s = stage(name);
    assert.match(s, /^HEALTHCHECK .*\n\s+CMD \["node", "-e", ".*\/healthz/m, `${name}: health check`);
    for (const label of ['title', 'description', 'licenses', 'version']) assert.match(s, new RegExp(`org\\.opencontainers\\.image\\.${label}=`), `${name}: label ${label}`);
    // The service V8 flags the local launchers pass too (launcher/node-flags.ts), in the same order.
    const entry = JSON.stringify(['node', ...SERVICE_NODE_FLAGS, '/app/bin/gantry.js']).replace(/,/g, ', ');
    assert.ok(s.split('\n').includes(`ENTRYPOINT ${entry}`), `${name}: entrypoint ${entry}`);
  }
});

it('.dockerignore admits only what the image needs', () => {
  const ignore = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(ignore, ['*', '!bin/', '!proto/', '!services/', '!package.json', '!package-lock.json']);
});

it('every GANTRY_* variable the image sets is one services/env knows', () => {
  const set = [...dockerfile.matchAll(/\b(GANTRY_[A-Z0-9_]+)=/g)].map((m) => ({ name: m[1], where: 'deploy/Dockerfile ENV' }));
  assert.ok(set.length >= 5, `found ${set.map((s) => s.name).join(', ')}`);
  assert.deepEqual(envNameErrors(set), []);
});
