// The launcher process of a chaos trial (bench/chaos-trial.ts), so that the trial can kill -9 it
// like any other process: runs runLocalCluster on the GanTrainConfig file argv[2] and prints each
// cluster event, then {summary} or {error}, as one JSON line on stdout; its own log and the
// children's prefixed logs go to stderr as JSON lines. GANTRY_CHAOS_ENV: extra environment per
// role (JSON). Exit 0 when the run completed or stopped, 1 otherwise.
import { readFile } from 'node:fs/promises';
import { ClusterFailed, runLocalCluster } from '../services/launcher/local-cluster.ts';
import { createLogger } from '../services/telemetry/log.ts';
import { ganTrainSchema, parseConfig } from '../services/train/config.ts';

const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

try {
  const cfg = parseConfig(ganTrainSchema, JSON.parse(await readFile(process.argv[2], 'utf8')), process.argv[2]);
  const env = JSON.parse(process.env.GANTRY_CHAOS_ENV ?? '{}') as Record<string, Record<string, string>>;
  const summary = await runLocalCluster(cfg, {
    log: createLogger({ component: 'launcher', level: 'info', format: 'json' }),
    env,
    progress: false,
    onEvent: (e) => print({ event: e }),
  });
  print({ summary });
} catch (err) {
  print({ error: { name: (err as Error).name, message: (err as Error).message, details: err instanceof ClusterFailed ? err.details : undefined } });
  process.exitCode = 1;
}
