// tf.train.Example, the protobuf that TFRecord files of images carry. The schema below is the
// subset of tensorflow/core/example/{example,feature}.proto that gantry reads and writes; it is a
// foreign file format, kept here rather than in proto/gantry/v1 (gantry's own wire types).
import protobuf from 'protobufjs';

const EXAMPLE_PROTO = `
syntax = "proto3";
package tensorflow;
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = true]; }
message Int64List { repeated int64 value = 1 [packed = true]; }
message Feature {
  oneof kind {
    BytesList bytes_list = 1;
    FloatList float_list = 2;
    Int64List int64_list = 3;
  }
}
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }
`;

// resolveAll before the first encode: unresolved fields ignore `packed` and write scalars unpacked.
const ExampleType = protobuf.parse(EXAMPLE_PROTO, { keepCase: true }).root.resolveAll().lookupType('tensorflow.Example');

/** One feature's values; exactly one kind is set, as in the proto's oneof. */
export type Feature =
  | { kind: 'bytes'; values: Uint8Array[] }
  | { kind: 'int64'; values: number[] }
  | { kind: 'float'; values: number[] };

export type Features = Record<string, Feature>;

/** The decoded message's shape (protobufjs decodes int64 as Long objects, or numbers without long.js). */
interface RawFeature {
  bytes_list?: { value: Uint8Array[] };
  float_list?: { value: number[] };
  int64_list?: { value: Array<number | { toNumber(): number }> };
}

/** Serializes an Example; features are written in the object's key order. */
export function encodeExample(features: Features): Uint8Array {
  const feature: Record<string, RawFeature> = {};
  for (const [name, f] of Object.entries(features)) {
    if (f.kind === 'bytes') feature[name] = { bytes_list: { value: f.values } };
    else if (f.kind === 'int64') feature[name] = { int64_list: { value: f.values } };
    else feature[name] = { float_list: { value: f.values } };
  }
  return ExampleType.encode(ExampleType.create({ features: { feature } })).finish();
}

/**
 * Parses a serialized Example. int64 values beyond 2^53 lose precision (labels and sizes never
 * come close). Throws protobufjs' error on malformed bytes; callers add the file and record.
 */
export function decodeExample(bytes: Uint8Array): Features {
  const msg = ExampleType.decode(bytes) as unknown as { features?: { feature?: Record<string, RawFeature> } };
  const out: Features = {};
  for (const [name, raw] of Object.entries(msg.features?.feature ?? {})) {
    if (raw.bytes_list) out[name] = { kind: 'bytes', values: raw.bytes_list.value };
    else if (raw.int64_list) out[name] = { kind: 'int64', values: raw.int64_list.value.map(toNumber) };
    else if (raw.float_list) out[name] = { kind: 'float', values: Array.from(raw.float_list.value) };
  }
  return out;
}

function toNumber(v: number | { toNumber(): number }): number {
  return typeof v === 'number' ? v : v.toNumber();
}
