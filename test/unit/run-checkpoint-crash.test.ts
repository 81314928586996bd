import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { latestCheckpoint } from '../../services/run/checkpoint-list.ts';
import { parseCheckpointDirName } from '../../services/run/checkpoint-paths.ts';
import { readCheckpoint } from '../../services/run/checkpoint.ts';
import { tempDir } from './run-fixtures.ts';

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run-crash-writer.ts');

/** Runs the writer until it has committed `after` checkpoints plus `extraMs`, then SIGKILLs it. */
function killWriterMidway(root: string, after: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let committed = 0;
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.stdout.on('data', (c: Buffer) => {
      const before = committed;
      stdout += c;
      committed = stdout.split('\n').filter((l) => /^committed \d+$/.test(l)).length;
      if (before < after && committed >= after) setTimeout(() => child.kill('SIGKILL'), extraMs);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited ${code} before it was killed: ${stderr}`));
      else resolve(committed);
    });
  });
}

// The invariant, wherever the kill lands: every directory named iter-XXXXXX loads in full, and
// the latest good checkpoint is the last one the writer reported (or a later one it committed
// but had no time to report).
test('a writer killed at arbitrary moments never leaves a loadable half-written checkpoint', async () => {
  for (const extraMs of [0, 7, 23, 61]) {
    const root = await tempDir('gantry-crash-');
    const reported = await killWriterMidway(root, 2, extraMs);
    const names = await fsp.readdir(root);
    for (const name of names) {
      const parsed = parseCheckpointDirName(name);
      if (!parsed || parsed.partial) continue;
      const loaded = await readCheckpoint(path.join(root, name));
      assert.equal(loaded.models.get('generator')!.tensors[0].data[12345], parsed.iteration, `${name} holds its own iteration`);
    }
    const latest = await latestCheckpoint(root);
    assert.ok(latest, `kill after ${extraMs} ms: a checkpoint survives (${names.join(', ')})`);
    assert.ok(latest.iteration >= reported && latest.iteration <= reported + 1, `latest ${latest.iteration}, reported ${reported}`);
    await fsp.rm(root, { recursive: true, force: true });
  }
});
