// `gantry run pause|resume|stop --run ID [--nats URL]`: control messages to a distributed run's
// scheduler on <prefix>.<run>.control. The scheduler acts between iterations (stop writes a final
// checkpoint); this command waits until the run state in KV shows the change, so it fails clearly
// when no scheduler is there to act.
import type { Command } from 'commander';
import { closeNats } from '../../control/connection.ts';
import { encodeMessage } from '../../control/messages.ts';
import { FINAL_STATUSES, type RunStatus } from '../../control/run-state.ts';
import { runSubjects } from '../../control/subjects.ts';
import { CheckFailed, UsageError } from '../errors.ts';
import { natsTarget, openRuns, pickRun } from './status.ts';

const ACTIONS = ['pause', 'resume', 'stop'] as const;
type Action = (typeof ACTIONS)[number];
/** The status each action leads to. */
const EXPECT: Record<Action, RunStatus[]> = { pause: ['paused'], resume: ['running'], stop: ['stopped'] };

async function control(action: Action, opts: { nats?: string; run?: string; subjectPrefix?: string; reason?: string; waitMs?: string }): Promise<void> {
  const target = natsTarget(opts);
  const waitMs = Number(opts.waitMs ?? '30000');
  if (!Number.isInteger(waitMs) || waitMs < 0) throw new UsageError(`--wait-ms: expected a non-negative integer, got ${opts.waitMs}`);
  const { nc, store } = await openRuns(target);
  try {
    const state = await pickRun(store, target);
    if (FINAL_STATUSES.includes(state.status)) throw new CheckFailed(`run ${state.runId} is already ${state.status}; nothing to ${action}`);
    const subjects = runSubjects(state.runId, target.prefix);
    nc.publish(subjects.control, encodeMessage({ type: action, run: state.runId, ...(opts.reason ? { reason: opts.reason } : {}) }));
    await nc.flush();
    const deadline = Date.now() + waitMs;
    for (;;) {
      const now = (await store.get(state.runId))?.state;
      if (now && EXPECT[action].includes(now.status)) {
        process.stdout.write(`run ${state.runId}: ${now.status} at iteration ${now.iteration}\n`);
        return;
      }
      if (now && FINAL_STATUSES.includes(now.status)) throw new CheckFailed(`run ${state.runId} ended as ${now.status} before the ${action} took effect`);
      if (Date.now() > deadline) {
        throw new CheckFailed(`run ${state.runId}: still ${now?.status ?? 'unknown'} after ${waitMs} ms; is its scheduler running? (gantry status --run ${state.runId})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await closeNats(nc);
  }
}

export function register(program: Command): void {
  const run = program.command('run').description('control a distributed run: pause, resume or stop it (between iterations)');
  for (const action of ACTIONS) {
    run
      .command(action)
      .description(action === 'stop' ? 'stop after the current iteration, with a final checkpoint' : `${action} the run between iterations`)
      .option('--nats <url>', 'NATS server (default $GANTRY_NATS_URL or nats://127.0.0.1:4222)')
      .option('--run <id>', 'run id (default: the only run in the bucket)')
      .option('--subject-prefix <prefix>', 'subject prefix of the run')
      .option('--reason <text>', 'logged by the scheduler')
      .option('--wait-ms <n>', 'how long to wait for the run state to show the change', '30000')
      .action((opts) => control(action, opts));
  }
}
