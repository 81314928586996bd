// The workshop's MNIST classifier (softmax cross-entropy on 10 logits):
//   conv w k4 s2, leaky 0.2; conv 2w k4 s2, batch norm, leaky; dense u, batch norm, leaky; dense 10.
// workshop: w = 64, u = 1024. quick: w = 32, u = 128.
import { tf } from '../tf.ts';
import type { ClassifierModel, ForwardMode } from '../model.ts';
import { convBody } from './conv-body.ts';

export interface ClassifierSizes {
  width: number;
  denseUnits: number;
  numClasses: number;
  imageShape: readonly [number, number, number];
}

export function convClassifier(s: ClassifierSizes, arch: Record<string, unknown>, seed: number): ClassifierModel {
  const body = convBody({ imageShape: s.imageShape, width: s.width, denseUnits: s.denseUnits, outputs: s.numClasses }, seed);
  return {
    role: 'classifier', arch, inputShape: s.imageShape, outputShape: [s.numClasses],
    params: body.params, state: body.state, segments: body.segments,
    apply: (x: tf.Tensor, mode: ForwardMode) => tf.tidy(() => body.forward(x, mode).out), // (B, 10)
    embed: (x: tf.Tensor, mode: ForwardMode) => {
      const { features, out } = body.forward(x, mode);
      return { features, logits: out }; // (B, u), (B, 10)
    },
    dispose: () => body.dispose(),
  };
}
