// The data layer's public surface. Importing this pulls in TensorFlow.js (through tensors.ts);
// code that only reads files (the CLI) imports the modules it needs directly.
export { DataError, DataFormatError, DataNotFoundError, RecordCorruptError } from './errors.ts';
export { readIdx, writeIdx, type IdxArray, type IdxDtype } from './idx.ts';
export { readTFRecord, writeTFRecord } from './tfrecord.ts';
export { NUM_CLASSES, SPLITS, type ImageSet, type Split } from './imageset.ts';
export { bundledMnistDir, loadImageSet, locateImageSet, type LoadOptions } from './mnist.ts';
export { exportImageSet, type ExportFormat } from './export.ts';
export { BatchSampler, splitTrainValidation, type Shard } from './sampler.ts';
