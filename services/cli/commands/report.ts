// `gantry report RUN_DIR`: writes RUN_DIR/report.html, a self-contained page (sample grids, loss,
// D-output and score curves, or a classifier's training vs validation curves and test accuracy,
// plus the config, backend and timings) that opens from disk without a server or network.
import type { Command } from 'commander';
import { RunFileError } from '../../run/errors.ts';
import { writeReport } from '../../report/report.ts';
import { UsageError } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('report')
    .description('write RUN_DIR/report.html: a self-contained report of a training run')
    .argument('<run-dir>', 'the run directory (runs/<kind>-<time>)')
    .action(async (runDir: string) => {
      const file = await writeReport(runDir).catch((err: unknown) => {
        if (err instanceof RunFileError) throw new UsageError(`RUN_DIR ${runDir}: ${err.message}`, { cause: err });
        throw err;
      });
      process.stdout.write(`${file}\n`);
    });
}
