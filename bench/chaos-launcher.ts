// The launcher process of a chaos trial (bench/chaos-trial.ts), so that the trial can kill -9 it
// like any other process: runs runLocalCluster on the GanTrainConfig file argv[2] (or, with argv[3]
// 'workers', runLocalWorkers on a ClassifierTrainConfig: the data-parallel classifier) and prints
// each cluster event, then {summary} or {error}, as one JSON line on stdout; its own log and the
// children's prefixed logs go to stderr as JSON lines. GANTRY_CHAOS_ENV: extra environment per
// role (JSON). Exit 0 when the run completed or stopped, 1 otherwise.
import { readFile } from 'node:fs/promises';
import { ClusterFailed, runLocalCluster } from '../services/launcher/local-cluster.ts';
import { runLocalWorkers } from '../services/launcher/local-workers.ts';
import { createLogger } from '../services/telemetry/log.ts';
import { classifierTrainSchema, ganTrainSchema, parseConfig } from '../services/train/config.ts';

const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

try {
  const raw = JSON.parse(await readFile(process.argv[2], 'utf8')) as unknown;
  const env = JSON.parse(process.env.GANTRY_CHAOS_ENV ?? '{}') as Record<string, Record<string, string>>;
  const log = createLogger({ component: 'launcher', level: 'info', format: 'json' });
  const summary = process.argv[3] === 'workers'
    ? await runLocalWorkers(parseConfig(classifierTrainSchema, raw, process.argv[2]), {
      log, env: { scheduler: env.scheduler, worker: env.worker }, progress: false, handleSignals: false, onEvent: (e) => print({ event: e }),
    })
    : await runLocalCluster(parseConfig(ganTrainSchema, raw, process.argv[2]), { log, env, progress: false, onEvent: (e) => print({ event: e }) });
  print({ summary });
} catch (err) {
  print({ error: { name: (err as Error).name, message: (err as Error).message, details: err instanceof ClusterFailed ? err.details : undefined } });
  process.exitCode = 1;
}
