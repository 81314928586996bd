// manifest.json of a checkpoint: the last file written, listing every other file with its sha256.
// Its presence in a directory named iter-XXXXXX (not .partial) is what makes a checkpoint
// complete; a file whose hash differs from the one listed here means the checkpoint is damaged.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { clipText } from '../telemetry/clip.ts';
import { CheckpointError } from './errors.ts';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'gantry-checkpoint/1';

export const MODEL_ROLES = ['generator', 'discriminator', 'classifier'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];
export type CheckpointKind = 'gan' | 'classifier';

/** The roles a checkpoint of each kind must hold, no more, no less. */
export const ROLES_OF_KIND: Record<CheckpointKind, readonly ModelRole[]> = {
  gan: ['generator', 'discriminator'],
  classifier: ['classifier'],
};

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
// Plain names inside the checkpoint directory: no separators, so a manifest cannot point outside.
const fileName = z
  .string()
  .max(255, 'expected a file name of at most 255 characters')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'expected a plain file name inside the checkpoint directory')
  .refine((n) => n !== MANIFEST_FILE, `may not be ${MANIFEST_FILE}`);

const modelEntrySchema = z.strictObject({
  role: z.enum(MODEL_ROLES),
  arch: z.record(z.string(), z.unknown()),
  file: fileName,
  sha256: sha256Hex,
  optimizerFile: fileName,
  optimizerSha256: sha256Hex,
  optimizerStep: z.number().int().nonnegative(),
});

const manifestSchema = z
  .strictObject({
    format: z.literal(MANIFEST_FORMAT),
    kind: z.enum(['gan', 'classifier']),
    iteration: z.number().int().nonnegative(),
    createdAt: z.iso.datetime(),
    config: z.record(z.string(), z.unknown()),
    models: z.array(modelEntrySchema).min(1),
    extra: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((m, ctx) => {
    const roles = m.models.map((e) => e.role).sort();
    const wanted = [...ROLES_OF_KIND[m.kind]].sort();
    if (roles.join(',') !== wanted.join(',')) {
      ctx.addIssue({ code: 'custom', path: ['models'], message: `a ${m.kind} checkpoint holds roles ${wanted.join(', ')}; found ${roles.join(', ')}` });
    }
    const files = m.models.flatMap((e) => [e.file, e.optimizerFile]);
    if (new Set(files).size !== files.length) {
      ctx.addIssue({ code: 'custom', path: ['models'], message: `file names must be distinct; found ${files.join(', ')}` });
    }
  });

export type ManifestModelEntry = z.infer<typeof modelEntrySchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** Validates a manifest object; `file` names it in the error. */
export function parseManifest(raw: unknown, file: string): Manifest {
  const result = manifestSchema.safeParse(raw);
  if (!result.success) {
    // Bounded: the issues may quote keys of any length from the file.
    throw new CheckpointError(file, `${file}: invalid manifest:\n${clipText(z.prettifyError(result.error), 1000)}`, { cause: result.error });
  }
  return result.data;
}

/** Reads and validates dir/manifest.json; a missing one means the checkpoint was never committed. */
export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const why = missing ? 'missing: the checkpoint was never completed' : (err as Error).message;
    throw new CheckpointError(file, `${file}: ${why}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(file, `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  return parseManifest(raw, file);
}

export function sha256OfBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Streams the file through sha256; a missing file is a CheckpointError naming it. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new CheckpointError(file, `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

/** Throws CheckpointError naming the file, the expected and the found hash when they differ. */
export function assertHash(file: string, expected: string, found: string): void {
  if (expected !== found) {
    throw new CheckpointError(file, `${file}: sha256 mismatch: manifest lists ${expected}, file has ${found}`, {
      expected,
      found,
    });
  }
}

/** Every file of a manifest, model files and optimizer files, with the hash listed for it. */
export function manifestFiles(manifest: Manifest): { file: string; sha256: string }[] {
  return manifest.models.flatMap((m) => [
    { file: m.file, sha256: m.sha256 },
    { file: m.optimizerFile, sha256: m.optimizerSha256 },
  ]);
}
