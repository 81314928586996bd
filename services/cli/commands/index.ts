// The list of sub-commands. Each module exports one `register(program)` function.
import type { Command } from 'commander';
import { register as checkpoint } from './checkpoint.ts';
import { register as data } from './data.ts';
import { register as train } from './train.ts';
import { register as sample } from './sample.ts';
import { register as evaluate } from './eval.ts';
import { register as report } from './report.ts';
import { register as serve } from './serve.ts';
import { register as status } from './status.ts';
import { register as runControl } from './run.ts';
import { register as certs } from './certs.ts';

type Register = (program: Command) => void;

const modules: Register[] = [train, sample, evaluate, report, checkpoint, data, serve, status, runControl, certs];

export function registerCommands(program: Command): void {
  for (const register of modules) register(program);
}
