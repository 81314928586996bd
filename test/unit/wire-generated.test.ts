// The committed types in services/wire/generated/ must be what scripts/gen-proto.sh makes of the
// protos today, and the run-time loader must decode with the options those types assume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATOR_SERVICE, serviceDefinition } from '../../services/wire/proto.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const committed = join(root, 'services/wire/generated');

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

test('committed generated types equal a fresh run of scripts/gen-proto.sh', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-gen-'));
  try {
    const fresh = join(dir, 'generated');
    execFileSync('bash', [join(root, 'scripts/gen-proto.sh'), fresh], { cwd: root, stdio: 'pipe' });
    const [want, have] = [await listFiles(fresh), await listFiles(committed)];
    assert.deepEqual(have, want, 'file list differs: run scripts/gen-proto.sh and commit services/wire/generated/');
    assert.ok(want.includes('gantry/v1/Tensor.ts'));
    for (const f of want) {
      const [a, b] = [await readFile(join(fresh, f), 'utf8'), await readFile(join(committed, f), 'utf8')];
      assert.equal(b, a, `services/wire/generated/${f} is stale: run scripts/gen-proto.sh`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the run-time loader decodes int64 as numbers, enums as names and fills defaults', () => {
  const generate = serviceDefinition(GENERATOR_SERVICE).Generate;
  const bytes = generate.responseSerialize({ images: { dtype: 'FLOAT16', shape: [2, 3], data: Buffer.alloc(12) } });
  const back = generate.responseDeserialize(bytes) as { images: { dtype: unknown; shape: unknown[]; data: unknown } };
  assert.deepEqual(back.images.shape, [2, 3]);
  assert.equal(typeof back.images.shape[0], 'number');
  assert.equal(back.images.dtype, 'FLOAT16');
  assert.ok(Buffer.isBuffer(back.images.data));
  const empty = generate.requestDeserialize(Buffer.alloc(0)) as Record<string, unknown>;
  assert.deepEqual(empty, { id: null, batchSize: 0, responseDtype: 'FLOAT32' });
});
