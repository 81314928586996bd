// Original file: proto/gantry/v1/collective.proto

import type { RingHello as _gantry_v1_RingHello, RingHello__Output as _gantry_v1_RingHello__Output } from '../../gantry/v1/RingHello.ts';
import type { RingChunk as _gantry_v1_RingChunk, RingChunk__Output as _gantry_v1_RingChunk__Output } from '../../gantry/v1/RingChunk.ts';

export interface RingFrame {
  'hello'?: (_gantry_v1_RingHello | null);
  'chunk'?: (_gantry_v1_RingChunk | null);
  'frame'?: "hello"|"chunk";
}

export interface RingFrame__Output {
  'hello'?: (_gantry_v1_RingHello__Output | null);
  'chunk'?: (_gantry_v1_RingChunk__Output | null);
  'frame'?: "hello"|"chunk";
}
