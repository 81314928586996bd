// Test harness for distributed runs: a tiny GAN config that trains in milliseconds per
// iteration, the in-process reference run, real service processes (`gantry serve <role>`) and
// a log sink that tests can wait on.
import { Writable } from 'node:stream';
import { ManagedChild } from '../../services/launcher/child.ts';
import { freePorts } from '../../services/launcher/ports.ts';
import { createLogger, type Logger } from '../../services/telemetry/log.ts';
import { type GanTrainConfig, ganTrainSchema, parseConfig } from '../../services/train/config.ts';
import { trainGanInProcess } from '../../services/train/gan-trainer.ts';
import { fileURLToPath } from 'node:url';

export const GANTRY_BIN = fileURLToPath(new URL('../../bin/gantry.js', import.meta.url));

/** MLP GAN with 32-wide layers, batch 8, wasm: ~15 ms per iteration. */
export function tinyGanConfig(overrides: Partial<GanTrainConfig> & { out: string }): GanTrainConfig {
  return parseConfig(ganTrainSchema, {
    preset: 'mlp', zDim: 16, gWidth: 32, dWidth: 32, batchSize: 8, backend: 'wasm',
    iterations: 20, sampleEvery: 10, checkpointEvery: 5, keepCheckpoints: 100, ...overrides,
  }, 'test config');
}

export const quietLog: Logger = createLogger({ component: 'test', level: 'error' });

/** The in-process trainer's run directory for the same config (the equivalence reference). */
export async function trainReference(cfg: GanTrainConfig, out: string): Promise<string> {
  const r = await trainGanInProcess({ ...cfg, out }, quietLog);
  return r.runDir;
}

/** Collects written text as lines; tests wait for a line matching a pattern. */
export class LineSink extends Writable {
  readonly lines: string[] = [];
  private buffered = '';
  private readonly waiters = new Set<() => void>();

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.buffered += chunk.toString();
    const parts = this.buffered.split('\n');
    this.buffered = parts.pop() ?? '';
    this.lines.push(...parts);
    if (process.env.GANTRY_TEST_ECHO) for (const p of parts) process.stderr.write(p + '\n');
    for (const w of [...this.waiters]) w();
    done();
  }

  find(re: RegExp): string | undefined {
    return this.lines.find((l) => re.test(l));
  }

  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  waitFor(re: RegExp, timeoutMs = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.find(re);
        if (hit === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no line matching ${re} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

/** `run`, and when it rejects, the cluster's last output lines on stderr first: a CI failure explains itself. */
export async function echoOnFailure<T>(output: LineSink, run: Promise<T>, lines = 80): Promise<T> {
  try {
    return await run;
  } catch (err) {
    process.stderr.write(`--- the cluster's last ${lines} output lines ---\n${output.lines.slice(-lines).join('\n')}\n---\n`);
    throw err;
  }
}

export interface Services {
  generator: ManagedChild;
  discriminator: ManagedChild;
  output: LineSink;
  /** host:port of each role's gRPC server. */
  grpc: { generator: string; discriminator: string };
  stop(): Promise<void>;
}

export interface StartServicesOptions {
  /** Run both services as this user (root only; util-linux setpriv), e.g. nobody's 65534. */
  asUser?: { uid: number; gid: number };
  /** Variables for one role only (its own certificate and credentials). */
  roleEnv?: Partial<Record<'generator' | 'discriminator', Record<string, string>>>;
}

/**
 * A generator and a discriminator process for `runId`, both ready (gRPC up, NATS subscribed). They
 * are told no run directory (only the scheduler has one); give the scheduler `grpc`'s addresses.
 * `env` goes to both.
 */
export async function startServices(
  natsUrl: string, runId: string, env: Record<string, string> = {}, opts: StartServicesOptions = {},
): Promise<Services> {
  const [gPort, dPort] = await freePorts(2);
  const output = new LineSink();
  const common = { ...process.env, GANTRY_NATS_URL: natsUrl, GANTRY_RUN_ID: runId, GANTRY_BACKEND: 'wasm', GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json', ...env };
  const spawn = (role: string, extra: Record<string, string>): ManagedChild => {
    const argv = [process.execPath, GANTRY_BIN, 'serve', role];
    // setpriv execs in place: the child's pid is the service's own.
    const [command, ...args] = opts.asUser ? ['setpriv', `--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--', ...argv] : argv;
    const child = new ManagedChild({ role, command, args, env: { ...common, ...extra, ...opts.roleEnv?.[role as 'generator'] } }, output, () => undefined);
    child.start();
    return child;
  };
  const generator = spawn('generator', { GANTRY_GRPC_PORT: String(gPort), GANTRY_DISCRIMINATOR_ADDR: `127.0.0.1:${dPort}` });
  const discriminator = spawn('discriminator', { GANTRY_GRPC_PORT: String(dPort), GANTRY_GENERATOR_ADDR: `127.0.0.1:${gPort}` });
  const stop = async (): Promise<void> => {
    await Promise.all([generator.stop(3_000), discriminator.stop(3_000)]);
  };
  try {
    await output.waitFor(/^\[generator\] .*"msg":"ready"/);
    await output.waitFor(/^\[discriminator\] .*"msg":"ready"/);
  } catch (err) {
    await stop();
    throw err;
  }
  return { generator, discriminator, output, grpc: { generator: `127.0.0.1:${gPort}`, discriminator: `127.0.0.1:${dPort}` }, stop };
}

/** A role's /metrics port, from its 'ready' log line. */
export function metricsPortOf(output: LineSink, role: string): number {
  const line = output.find(new RegExp(`^\\[${role}\\] .*"msg":"ready"`));
  if (!line) throw new Error(`no ready line from the ${role}`);
  return (JSON.parse(line.slice(line.indexOf('{'))) as { metricsPort: number }).metricsPort;
}

/** The value of an unlabelled-by-us gauge (e.g. gantry_tfjs_tensors) on a /metrics page. */
export async function scrapeGauge(port: number, name: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not on the /metrics page of port ${port}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}
