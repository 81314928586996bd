// Original file: proto/gantry/v1/collective.proto

import type { RingHello as _gantry_v1_RingHello, RingHello__Output as _gantry_v1_RingHello__Output } from '../../gantry/v1/RingHello.ts';
import type { RingChunk as _gantry_v1_RingChunk, RingChunk__Output as _gantry_v1_RingChunk__Output } from '../../gantry/v1/RingChunk.ts';
import type { RingAbort as _gantry_v1_RingAbort, RingAbort__Output as _gantry_v1_RingAbort__Output } from '../../gantry/v1/RingAbort.ts';

export interface RingFrame {
  'hello'?: (_gantry_v1_RingHello | null);
  'chunk'?: (_gantry_v1_RingChunk | null);
  'abort'?: (_gantry_v1_RingAbort | null);
  'frame'?: "hello"|"chunk"|"abort";
}

export interface RingFrame__Output {
  'hello'?: (_gantry_v1_RingHello__Output | null);
  'chunk'?: (_gantry_v1_RingChunk__Output | null);
  'abort'?: (_gantry_v1_RingAbort__Output | null);
  'frame'?: "hello"|"chunk"|"abort";
}
