// gantry's command line. Each sub-command lives in commands/<name>.ts and registers itself on the
// program; this file only assembles them and maps errors to exit codes.
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import { exitCodeFor, formatError } from './errors.ts';

const program = new Command('gantry')
  .description('Distributed GAN and classifier training on Node.js and TensorFlow.js')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

/** How long a failed command may take to close what it opened before it is made to exit. */
const FAILED_EXIT_GRACE_MS = 2_000;

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help text); a usage error exits 2.
    const informational = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code);
    process.exitCode = informational ? err.exitCode : 2;
  } else {
    process.stderr.write(`gantry: ${formatError(err)}\n`);
    process.exitCode = exitCodeFor(err);
    // A command that failed half-way can leave handles open (a /metrics listener, a NATS
    // connection): it must still exit, the launcher and container runtimes wait for that.
    setTimeout(() => process.exit(), FAILED_EXIT_GRACE_MS).unref();
  }
}
