// Hostile files through the real loaders: checkpoints (readCheckpoint: manifest-less, bad
// manifests, truncated and bit-flipped safetensors, and safetensors whose damage is hidden from
// the sha256 check by a manifest rewritten to match, so the decoder itself must refuse them) and
// data files (readIdx, readTFRecord, loadImageSet: IDX, gzip, TFRecord with bad CRCs, truncated).
// Every damaged copy is written before the cases run; the state is the bytes of all of them (a
// loader must not repair, move or delete what it refuses). A clear answer is a typed error
// (CheckpointError, SafetensorsError, DataFormatError, ...) whose message names the file.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readCheckpoint } from '../../services/run/checkpoint.ts';
import { readIdx, encodeIdx } from '../../services/data/idx.ts';
import { imageSetFromIdx, imageSetToExamples } from '../../services/data/imageset.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import { encodeTFRecords, frameRecord, readTFRecord } from '../../services/data/tfrecord.ts';
import { encodeExample } from '../../services/data/example.ts';
import { maskedCrc32c } from '../../services/data/crc32c.ts';
import { ganSnapshots, writeGan } from '../unit/run-fixtures.ts';
import { type Answer, type CaseSpec, Hostile, type Target } from './tally.ts';

const CHECKPOINT_ERRORS = ['CheckpointError', 'SafetensorsError', 'RunFileError'];
const DATA_ERRORS = ['DataFormatError', 'RecordCorruptError', 'DataError', 'DataNotFoundError'];
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const answerOf = (fn: () => Promise<unknown>): Promise<Answer> => fn().then(() => ({}), (err: Error) => ({ kind: err?.name, message: err?.message }));

/** A digest of every file under `root` (names and bytes). */
export async function treeHash(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      h.update(p);
      if (e.isDirectory()) await walk(p);
      else h.update(await fsp.readFile(p));
    }
  };
  await walk(root);
  return h.digest('hex');
}

/** The safetensors bytes with its header JSON replaced (length prefix rewritten to match). */
function withHeader(bytes: Buffer, edit: (header: Record<string, unknown>) => unknown): Buffer {
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')) as Record<string, unknown>;
  const text = Buffer.from(typeof edit(header) === 'string' ? (edit(header) as string) : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([prefix, text, bytes.subarray(8 + len)]);
}

export async function checkpointCases(root: string, seed: number): Promise<{ target: Target; cases: CaseSpec[] }> {
  const h = new Hostile(seed);
  const pristine = await writeGan(path.join(root, 'pristine'), 5, ganSnapshots(3));
  const manifest = JSON.parse(await fsp.readFile(path.join(pristine, 'manifest.json'), 'utf8')) as { models: Record<string, unknown>[] } & Record<string, unknown>;
  const files = (await fsp.readdir(pristine)).filter((f) => f.endsWith('.safetensors'));
  const cases: CaseSpec[] = [];
  let n = 0;
  /** A copy of the pristine checkpoint with `damage` applied, as iter-000005 under its own root. */
  const variant = async (what: string, damage: (dir: string) => Promise<void>, names: RegExp = /iter-000005/, dirName = 'iter-000005'): Promise<void> => {
    const dir = path.join(root, `case-${String(n++).padStart(3, '0')}`, dirName);
    await fsp.cp(pristine, dir, { recursive: true });
    await damage(dir);
    cases.push({ name: `checkpoint ${what}`, expect: CHECKPOINT_ERRORS, names, send: () => answerOf(() => readCheckpoint(dir)) });
  };
  const writeManifest = (dir: string, m: unknown): Promise<void> => fsp.writeFile(path.join(dir, 'manifest.json'), typeof m === 'string' ? m : JSON.stringify(m));
  /** Rewrites a file and makes the manifest list its new sha256, so only the decoder can refuse it. */
  const rehash = async (dir: string, file: string, bytes: Buffer): Promise<void> => {
    await fsp.writeFile(path.join(dir, file), bytes);
    const m = structuredClone(manifest);
    for (const e of m.models) {
      if (e.file === file) e.sha256 = sha(bytes);
      if (e.optimizerFile === file) e.optimizerSha256 = sha(bytes);
    }
    await writeManifest(dir, m);
  };

  // Manifest.
  await variant('without manifest.json', (d) => fsp.rm(path.join(d, 'manifest.json')));
  await variant('that is half-written (.partial)', async () => undefined, /partial/, 'iter-000005.partial');
  await variant('whose directory is empty', async (d) => { for (const f of await fsp.readdir(d)) await fsp.rm(path.join(d, f)); });
  for (const [what, body] of [['empty', ''], ['not JSON', '{"format":'], ['JSON null', 'null'], ['a JSON array', '[]'], ['binary', '\u0000\u0001\u0002']] as const) {
    await variant(`with a manifest that is ${what}`, (d) => writeManifest(d, body));
  }
  const edits: [string, (m: Record<string, any>) => void][] = [
    ['another format', (m) => { m.format = 'gantry-checkpoint/9'; }], ['kind "vae"', (m) => { m.kind = 'vae'; }], ['iteration 6 (the name says 5)', (m) => { m.iteration = 6; }],
    ['iteration -1', (m) => { m.iteration = -1; }], ['no models', (m) => { m.models = []; }], ['one model only', (m) => { m.models = m.models.slice(0, 1); }],
    ['a model twice', (m) => { m.models = [m.models[0], m.models[0]]; }], ['an unknown key', (m) => { m.signature = 'x'; }], ['createdAt "yesterday"', (m) => { m.createdAt = 'yesterday'; }],
    ['a file outside the directory', (m) => { m.models[0].file = '../x.safetensors'; }], ['an absolute file', (m) => { m.models[0].file = '/etc/passwd'; }],
    ['a file that does not exist', (m) => { m.models[0].file = 'nope.safetensors'; }], ['the manifest as a model file', (m) => { m.models[0].file = 'manifest.json'; }],
    ['an upper-case sha256', (m) => { m.models[0].sha256 = String(m.models[0].sha256).toUpperCase(); }], ['a short sha256', (m) => { m.models[0].sha256 = 'abc'; }],
    ['the sha256 of another file', (m) => { m.models[0].sha256 = m.models[1].sha256; }], ['a zero sha256', (m) => { m.models[1].optimizerSha256 = '0'.repeat(64); }],
    ['optimizerStep 8 (the file says 7)', (m) => { m.models[0].optimizerStep = 8; }], ['optimizerStep -1', (m) => { m.models[0].optimizerStep = -1; }],
    ['role "critic"', (m) => { m.models[0].role = 'critic'; }], ['the same file for both models', (m) => { m.models[1].file = m.models[0].file; }],
    ['a 100,000-character file name', (m) => { m.models[0].file = 'f'.repeat(100_000); }],
  ];
  for (const [what, edit] of edits) await variant(`whose manifest has ${what}`, (d) => { const m = structuredClone(manifest) as Record<string, any>; edit(m); return writeManifest(d, m); });

  // Safetensors files: truncated and bit-flipped (the sha256 check refuses them)...
  for (const file of files) {
    const bytes = await fsp.readFile(path.join(pristine, file));
    for (const cut of [0, 4, 8, h.int(9, 60), h.int(61, bytes.length - 1), bytes.length - 1]) {
      await variant(`${file} truncated to ${cut} bytes`, (d) => fsp.writeFile(path.join(d, file), bytes.subarray(0, cut)));
    }
    for (let i = 0; i < 4; i++) {
      const at = h.int(0, bytes.length - 1), bit = h.int(0, 7);
      await variant(`${file} with bit ${bit} of byte ${at} flipped`, (d) => fsp.writeFile(path.join(d, file), Hostile.flip(bytes, at, bit)));
    }
    await variant(`${file} missing`, (d) => fsp.rm(path.join(d, file)));
    await variant(`${file} replaced by a directory`, async (d) => { await fsp.rm(path.join(d, file)); await fsp.mkdir(path.join(d, file)); });
  }
  // ...and the same damage with the manifest rewritten to match: the decoder must refuse it.
  const first = files[0];
  const bytes = await fsp.readFile(path.join(pristine, first));
  const decoderCases: [string, () => Buffer][] = [
    ['empty', () => Buffer.alloc(0)], ['4 bytes', () => bytes.subarray(0, 4)], ['header length only', () => bytes.subarray(0, 8)],
    ['header cut short', () => bytes.subarray(0, 20)], ['data cut short by 4 bytes', () => bytes.subarray(0, bytes.length - 4)], ['4 extra bytes', () => Buffer.concat([bytes, Buffer.alloc(4)])],
    ['header length 2^60', () => { const b = Buffer.from(bytes); b.writeBigUInt64LE(2n ** 60n); return b; }], ['header length 2^64-1', () => { const b = Buffer.from(bytes); b.writeBigUInt64LE(2n ** 64n - 1n); return b; }],
    ['header length 0', () => { const b = Buffer.from(bytes); b.writeBigUInt64LE(0n); return b; }], ['header length past the end', () => { const b = Buffer.from(bytes); b.writeBigUInt64LE(BigInt(bytes.length)); return b; }],
    ['header not JSON', () => withHeader(bytes, () => '{"a": ')], ['header a JSON array', () => withHeader(bytes, () => '[1,2,3]')], ['header invalid UTF-8', () => withHeader(bytes, () => '\u0000\uFFFD')],
  ];
  const headerEdits: [string, (hd: Record<string, any>, t: string) => void][] = [
    ['dtype F16', (hd, t) => { hd[t].dtype = 'F16'; }], ['dtype I64', (hd, t) => { hd[t].dtype = 'I64'; }], ['no dtype', (hd, t) => { delete hd[t].dtype; }],
    ['shape [-1]', (hd, t) => { hd[t].shape = [-1]; }], ['shape [2^40]', (hd, t) => { hd[t].shape = [2 ** 40]; }], ['shape ["4"]', (hd, t) => { hd[t].shape = ['4']; }],
    ['a shape one element too large', (hd, t) => { hd[t].shape = [hd[t].shape.reduce((a: number, b: number) => a * b, 1) + 1]; }], ['data_offsets past the end', (hd, t) => { hd[t].data_offsets = [0, 2 ** 40]; }],
    ['data_offsets reversed', (hd, t) => { hd[t].data_offsets = [...hd[t].data_offsets].reverse(); }], ['data_offsets overlapping', (hd) => { const ks = Object.keys(hd).filter((k) => k !== '__metadata__'); hd[ks[1]].data_offsets = hd[ks[0]].data_offsets; }],
    ['data_offsets [1.5, 5.5]', (hd, t) => { hd[t].data_offsets = [1.5, 5.5]; }], ['an entry that is a string', (hd, t) => { hd[t] = 'F32'; }], ['a tensor renamed', (hd, t) => { hd[`${t}_x`] = hd[t]; delete hd[t]; }],
    ['a 100,000-character tensor name', (hd, t) => { hd['n'.repeat(100_000)] = hd[t]; delete hd[t]; }], ['__metadata__ an array', (hd) => { hd.__metadata__ = [1]; }],
    ['__metadata__ with a number', (hd) => { hd.__metadata__ = { ...hd.__metadata__, x: 1 }; }], ['gantry.order not JSON', (hd) => { hd.__metadata__ = { ...hd.__metadata__, 'gantry.order': '[' }; }],
    ['gantry.order missing a tensor', (hd) => { const o = JSON.parse(hd.__metadata__['gantry.order']); hd.__metadata__['gantry.order'] = JSON.stringify(o.slice(1)); }],
    ['gantry.order naming a tensor twice', (hd) => { const o = JSON.parse(hd.__metadata__['gantry.order']); hd.__metadata__['gantry.order'] = JSON.stringify([o[0], ...o.slice(0, -1)]); }],
  ];
  for (const [what, make] of decoderCases) await variant(`${first} ${what}, manifest rewritten to match`, (d) => rehash(d, first, make()));
  for (const [what, edit] of headerEdits) {
    await variant(`${first} header with ${what}, manifest rewritten to match`, (d) => rehash(d, first, withHeader(bytes, (hd) => {
      const t = Object.keys(hd).find((k) => k !== '__metadata__')!;
      edit(hd as Record<string, any>, t);
    })));
  }
  // NaN weights in a well-formed file: the checkpoint loads, the model's restore refuses them (core).
  return { target: { stateHash: () => treeHash(root), health: async () => undefined }, cases };
}

export async function dataCases(root: string, seed: number): Promise<{ target: Target; cases: CaseSpec[] }> {
  const h = new Hostile(seed);
  const N = 12;
  const images = Uint8Array.from({ length: N * 784 }, (_, i) => (i * 7) & 0xff);
  const labels = Uint8Array.from({ length: N }, (_, i) => i % 10);
  const imgIdx = Buffer.from(encodeIdx({ dims: [N, 28, 28], data: images }));
  const lblIdx = Buffer.from(encodeIdx({ dims: [N], data: labels }));
  const set = imageSetFromIdx({ path: 'x', dtype: 'uint8', dims: [N, 28, 28], data: images }, { path: 'y', dtype: 'uint8', dims: [N], data: labels }, 'train', 'x');
  const tfr = Buffer.from(encodeTFRecords(imageSetToExamples(set)));
  const cases: CaseSpec[] = [];
  let n = 0;
  const caseDir = async (): Promise<string> => {
    const dir = path.join(root, `data-${String(n++).padStart(3, '0')}`);
    await fsp.mkdir(dir, { recursive: true });
    return dir;
  };
  /** One damaged file read by `load`; the error must name it. */
  const file = async (what: string, name: string, bytes: Uint8Array, load: (p: string) => Promise<unknown>): Promise<void> => {
    const p = path.join(await caseDir(), name);
    await fsp.writeFile(p, bytes);
    cases.push({ name: what, expect: DATA_ERRORS, names: new RegExp(name.replace(/\./g, '\\.')), send: () => answerOf(() => load(p)) });
  };
  /** A dataset directory for loadImageSet. */
  const dataset = async (what: string, files: Record<string, Uint8Array>, names: RegExp): Promise<void> => {
    const dir = await caseDir();
    for (const [name, bytes] of Object.entries(files)) await fsp.writeFile(path.join(dir, name), bytes);
    cases.push({ name: what, expect: DATA_ERRORS, names, send: () => answerOf(() => loadImageSet({ dir, split: 'train' })) });
  };
  const idxName = 'train-images-idx3-ubyte';
  // IDX: truncated, flipped headers, absurd dimensions.
  for (const cut of [0, 2, 3, 4, 7, 15, h.int(16, 400), imgIdx.length - 1]) await file(`idx images truncated to ${cut} bytes`, idxName, imgIdx.subarray(0, cut), readIdx);
  for (let at = 0; at < 16; at++) await file(`idx images with bit ${at % 8} of header byte ${at} flipped`, idxName, Hostile.flip(imgIdx, at, at % 8), readIdx);
  const dims = (d: number[], type = 0x08): Buffer => { const b = Buffer.alloc(4 + 4 * d.length); b[2] = type; b[3] = d.length; d.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 + 4 * i)); return b; };
  for (const [what, d, type] of [['2^32-1 images', [2 ** 32 - 1, 28, 28], 0x08], ['three dims of 2^32-1', [2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1], 0x08], ['float64 2^31 values', [2 ** 31], 0x0e],
    ['255 dimensions', new Array(255).fill(2), 0x08], ['type code 0x0a', [1], 0x0a], ['zero dimensions', [], 0x08]] as const) {
    await file(`idx header declaring ${what}`, idxName, dims([...d], type), readIdx);
  }
  await file('idx with 1 byte too many', idxName, Buffer.concat([imgIdx, Buffer.alloc(1)]), readIdx);
  // gzip: damaged streams.
  const gz = gzipSync(imgIdx);
  for (const cut of [2, 10, h.int(11, gz.length - 9), gz.length - 4]) await file(`gzipped idx truncated to ${cut} bytes`, `${idxName}.gz`, gz.subarray(0, cut), readIdx);
  await file('gzipped idx with a bad CRC', `${idxName}.gz`, Hostile.flip(gz, gz.length - 6, 3), readIdx);
  await file('gzipped idx with a flipped deflate byte', `${idxName}.gz`, Hostile.flip(gz, 20, 5), readIdx);
  await file('gzip magic then garbage', `${idxName}.gz`, Buffer.concat([Buffer.from([0x1f, 0x8b]), h.bytes(40)]), readIdx);
  await file('gzip of a truncated idx', `${idxName}.gz`, gzipSync(imgIdx.subarray(0, 100)), readIdx);
  // IDX pairs through loadImageSet.
  await dataset('dataset with 11 labels for 12 images', { [idxName]: imgIdx, 'train-labels-idx1-ubyte': encodeIdx({ dims: [N - 1], data: labels.subarray(1) }) }, /labels/);
  await dataset('dataset with label 10', { [idxName]: imgIdx, 'train-labels-idx1-ubyte': encodeIdx({ dims: [N], data: Uint8Array.from(labels, (l, i) => (i === 3 ? 10 : l)) }) }, /label/);
  await dataset('dataset with 2-d images', { [idxName]: encodeIdx({ dims: [N, 784], data: images }), 'train-labels-idx1-ubyte': lblIdx }, /3-d/);
  await dataset('dataset with float32 images', { [idxName]: encodeIdx({ dims: [N, 28, 28], data: new Float32Array(N * 784) }), 'train-labels-idx1-ubyte': lblIdx }, /uint8/);
  await dataset('dataset with images but no labels', { [idxName]: imgIdx }, /labels/);
  await dataset('dataset directory with no data files', { 'README.txt': Buffer.from('hi') }, /no train images/);
  await dataset('dataset with labels as images', { [idxName]: lblIdx, 'train-labels-idx1-ubyte': imgIdx }, /expected/);
  // TFRecord: CRCs, truncation, absurd lengths, records that are not Examples.
  await dataset('tfrecord dataset with zero records', { 'train.tfrecord': new Uint8Array(0) }, /train\.tfrecord/);
  const recordLen = frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 784)] }, label: { kind: 'bytes', values: [labels.subarray(0, 1)] } })).length;
  for (const cut of [5, 12, 13, recordLen - 1, recordLen + 3, tfr.length - 1]) await file(`tfrecord truncated to ${cut} bytes`, 'train.tfrecord', tfr.subarray(0, cut), readTFRecord);
  for (const at of [0, 7, 8, 11, 12, 12 + h.int(0, 700), recordLen - 1, recordLen + 8]) await file(`tfrecord with a bit of byte ${at} flipped`, 'train.tfrecord', Hostile.flip(tfr, at, 2), readTFRecord);
  const stale = Buffer.from(frameRecord(new Uint8Array(0)));
  stale.writeBigUInt64LE(2n ** 63n, 0);
  await file('tfrecord record length 2^63 (length CRC stale)', 'train.tfrecord', stale, readTFRecord);
  const hugeLen = Buffer.alloc(16);
  hugeLen.writeBigUInt64LE(2n ** 62n, 0);
  hugeLen.writeUInt32LE(maskedCrc32c(hugeLen.subarray(0, 8)), 8);
  await file('tfrecord record length 2^62 with a valid length CRC', 'train.tfrecord', hugeLen, readTFRecord);
  const load = (p: string): Promise<unknown> => loadImageSet({ dir: path.dirname(p), split: 'train' });
  await file('tfrecord with a record that is not an Example', 'train.tfrecord', frameRecord(h.bytes(30)), load);
  await file('tfrecord with an Example without image', 'train.tfrecord', frameRecord(encodeExample({ label: { kind: 'bytes', values: [Uint8Array.of(1)] } })), load);
  await file('tfrecord with an Example without label', 'train.tfrecord', frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 784)] } })), load);
  await file('tfrecord with label 200', 'train.tfrecord', frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 784)] }, label: { kind: 'int64', values: [200] } })), load);
  await file('tfrecord with label -1', 'train.tfrecord', frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 784)] }, label: { kind: 'int64', values: [-1] } })), load);
  await file('tfrecord with a 783-byte image', 'train.tfrecord', frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 783)] }, label: { kind: 'int64', values: [1] } })), load);
  await file('tfrecord with images of two sizes', 'train.tfrecord', Buffer.concat([tfr.subarray(0, recordLen), frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 900)] }, label: { kind: 'int64', values: [1] } }))]), load);
  await file('tfrecord with height and width 2^31', 'train.tfrecord', frameRecord(encodeExample({ image: { kind: 'bytes', values: [images.subarray(0, 784)] }, label: { kind: 'int64', values: [1] }, height: { kind: 'int64', values: [2 ** 31] }, width: { kind: 'int64', values: [2 ** 31] } })), load);
  await file('gzipped tfrecord truncated', 'train.tfrecord.gz', gzipSync(tfr).subarray(0, 40), load);
  return { target: { stateHash: () => treeHash(root), health: async () => undefined }, cases };
}
