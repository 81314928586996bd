// Test harness for the container deployment: makes a Docker engine, the Compose v2 plugin and the
// base images available (scripts/docker-bootstrap.sh), builds the gantry image once per test
// process, and runs `docker compose` on the layered files of deploy/ under a throw-away project
// name. Where no engine can be had, `dockerEngine()` says why and the tests skip saying so.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy');

/** The compose layers, in the order they are stacked. */
export const COMPOSE_FILES = {
  core: path.join(DEPLOY_DIR, 'compose.yaml'),
  gpu: path.join(DEPLOY_DIR, 'compose.gpu.yaml'),
  observability: path.join(DEPLOY_DIR, 'compose.observability.yaml'),
  /** discriminator-1: a replica group of 2 discriminators (on GPUs, with replicasGpu after it). */
  replicas: path.join(DEPLOY_DIR, 'compose.replicas.yaml'),
  replicasGpu: path.join(DEPLOY_DIR, 'compose.replicas.gpu.yaml'),
} as const;
export type ComposeLayer = keyof typeof COMPOSE_FILES;

/** Exit code of docker-bootstrap.sh when no engine can be had here (not root, no apt). */
const NO_ENGINE_EXIT = 3;

export type Engine = { ok: true } | { ok: false; reason: string };

let engine: Promise<Engine> | undefined;

/** Runs the bootstrap once per process: engine, compose plugin, base images (minutes the first time). */
export function dockerEngine(): Promise<Engine> {
  engine ??= (async (): Promise<Engine> => {
    try {
      await run('bash', [path.join(REPO_ROOT, 'scripts/docker-bootstrap.sh')], { timeout: 15 * 60_000, maxBuffer: 64 << 20 });
      return { ok: true };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      const said = (e.stderr ?? '').trim().split('\n').filter((l) => l.startsWith('[docker-bootstrap]')).pop();
      if (e.code === NO_ENGINE_EXIT) return { ok: false, reason: `no Docker engine reachable: ${said ?? 'docker-bootstrap.sh exit 3'}` };
      throw new Error(`scripts/docker-bootstrap.sh failed (exit ${e.code}): ${(e.stderr ?? '').slice(-2000)}`, { cause: err });
    }
  })();
  return engine;
}

/** deploy/.env as a map (KEY=VALUE lines; comments and blanks skipped). */
export function dotEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(DEPLOY_DIR, '.env'), 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

let built: Promise<string> | undefined;

/** The tag this test process builds: its own, so concurrent test runs and a user's gantry:0.1.0
 *  never overwrite each other (the compose files take it through IMAGE_TAG). */
export const TEST_IMAGE_TAG = `test-${process.pid}`;

/** `docker build` of deploy/Dockerfile (default target) as gantry:TEST_IMAGE_TAG, once per process;
 *  BuildKit's layer cache makes rebuilds fast. This machine's CA bundle and npmrc travel as
 *  BuildKit secrets (npm behind a TLS-inspecting proxy). */
export function buildImage(): Promise<string> {
  built ??= (async () => {
    const tag = `${dotEnv().IMAGE_NAME}:${TEST_IMAGE_TAG}`;
    const secrets: string[] = [];
    const ca = process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt';
    if (existsSync(ca)) secrets.push('--secret', `id=ca,src=${ca}`);
    const npmrc = path.join(os.homedir(), '.npmrc');
    if (existsSync(npmrc)) secrets.push('--secret', `id=npmrc,src=${npmrc}`);
    await run('docker', ['build', '-q', ...secrets, '-f', path.join(DEPLOY_DIR, 'Dockerfile'), '-t', tag, REPO_ROOT], {
      env: { ...process.env, DOCKER_BUILDKIT: '1' }, timeout: 15 * 60_000, maxBuffer: 64 << 20,
    });
    return tag;
  })();
  return built;
}

/** Removes the test tag (the build cache stays); never throws (teardown). */
export async function removeImage(tag: string): Promise<void> {
  await run('docker', ['image', 'rm', tag], { timeout: 60_000 }).catch(() => undefined);
}

/** `docker compose` on the given layers under one project name, with extra interpolation variables. */
export class ComposeProject {
  constructor(
    readonly name: string,
    readonly layers: readonly ComposeLayer[],
    readonly env: Record<string, string> = {},
  ) {}

  args(...rest: string[]): string[] {
    return ['compose', '-p', this.name, ...this.layers.flatMap((l) => ['-f', COMPOSE_FILES[l]]), ...rest];
  }

  /** Runs `docker compose ...`; rejects with the command's stderr on a non-zero exit. */
  async exec(rest: string[], timeoutMs = 5 * 60_000): Promise<string> {
    const r = await run('docker', this.args(...rest), {
      env: { ...process.env, ...this.env }, timeout: timeoutMs, maxBuffer: 64 << 20, cwd: DEPLOY_DIR,
    });
    return r.stdout;
  }

  /** The container id of a service's first replica (stopped ones included). */
  async containerId(service: string): Promise<string> {
    const id = (await this.exec(['ps', '-a', '-q', service])).trim().split('\n')[0];
    if (!id) throw new Error(`compose project ${this.name}: no container for service ${service}`);
    return id;
  }

  /** The host address ("127.0.0.1:PORT") a service's container port is published on. */
  async port(service: string, containerPort: number): Promise<string> {
    return (await this.exec(['port', service, String(containerPort)])).trim();
  }

  /** The last lines every service logged, for failure messages. */
  async logs(lines = 30): Promise<string> {
    return this.exec(['logs', '--no-color', '--tail', String(lines)]).catch((err: Error) => `(logs unavailable: ${err.message})`);
  }

  /** `down -v`: containers, networks and volumes go; never throws (teardown). */
  async down(): Promise<void> {
    // --profile '*': `down` skips the services of a profile it is not given (the classifier and its
    // workers), which then outlive the test and come back with the engine (restart: unless-stopped).
    await this.exec(['--profile', '*', 'down', '-v', '--remove-orphans', '--timeout', '10'], 2 * 60_000).catch(() => undefined);
  }
}

/** `docker wait`: blocks until the container exits and resolves to its exit code. */
export async function waitExit(containerId: string, timeoutMs: number): Promise<number> {
  const r = await run('docker', ['wait', containerId], { timeout: timeoutMs });
  return Number(r.stdout.trim());
}

/** Copies a path out of a container (running or stopped; volume mounts included). */
export async function copyOut(containerId: string, from: string, to: string): Promise<void> {
  await run('docker', ['cp', `${containerId}:${from}`, to], { timeout: 2 * 60_000 });
}
