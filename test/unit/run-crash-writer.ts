// Child process for run-checkpoint-crash.test.ts: writes checkpoints 1, 2, 3, ... into argv[2]
// (pruning to the last two) until it is killed, printing "committed N" after each commit.
import { writeCheckpoint } from '../../services/run/checkpoint.ts';
import { pruneCheckpoints } from '../../services/run/checkpoint-list.ts';
import type { ModelSnapshot } from '../../services/run/model-snapshot.ts';

const root = process.argv[2];
const SIZE = 1 << 17; // 512 KiB per tensor: each checkpoint is about 3 MiB, written in tens of ms

function snapshot(role: 'generator' | 'discriminator', iteration: number): ModelSnapshot {
  const w = new Float32Array(SIZE).fill(iteration);
  return {
    role,
    arch: {},
    tensors: [{ name: 'w', shape: [SIZE], data: w }],
    optimizer: {
      kind: 'adam',
      step: iteration,
      hyper: { learningRate: 1e-3 },
      slots: [{ name: 'w/m', shape: [SIZE], data: w }, { name: 'w/v', shape: [SIZE], data: w }],
    },
  };
}

for (let it = 1; ; it++) {
  await writeCheckpoint(root, { kind: 'gan', iteration: it, config: {}, snapshots: [snapshot('generator', it), snapshot('discriminator', it)] });
  process.stdout.write(`committed ${it}\n`);
  await pruneCheckpoints(root, 2);
}
