// A launcher process for tests that signal it: runs runLocalCluster on the config file given as
// argv[2], prints each cluster event and then the summary (or the error) as one JSON line on
// stdout; the children's logs go to stderr. Exit 0 when the run completed or stopped, 1 otherwise.
import { readFile } from 'node:fs/promises';
import { runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { ganTrainSchema, parseConfig } from '../../services/train/config.ts';

const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

// GANTRY_TEST_THROW_AT_ITERATION: an uncaught error in this process once the run reports that
// iteration (exit paths test; an iteration, not a delay, so a slow machine still throws mid-run).
const throwAt = Number(process.env.GANTRY_TEST_THROW_AT_ITERATION ?? 0);
let thrown = false;

try {
  const cfg = parseConfig(ganTrainSchema, JSON.parse(await readFile(process.argv[2], 'utf8')), process.argv[2]);
  const env = JSON.parse(process.env.GANTRY_TEST_CLUSTER_ENV ?? '{}') as Record<string, Record<string, string>>;
  const summary = await runLocalCluster(cfg, {
    log: createLogger({ component: 'launcher', level: 'warn' }),
    env,
    progress: false,
    onEvent: (e) => {
      print({ event: e });
      if (throwAt > 0 && !thrown && e.type === 'progress' && e.iteration >= throwAt) {
        thrown = true;
        setImmediate(() => { throw new Error('uncaught test error'); });
      }
    },
  });
  print({ summary });
} catch (err) {
  print({ error: { name: (err as Error).name, message: (err as Error).message } });
  process.exitCode = 1;
}
