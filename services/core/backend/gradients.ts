// Gradients tfjs leaves unregistered for comparison kernels. First-order training never needs
// them, but second-order gradients do: the WGAN-GP penalty differentiates dD/dx, and the gradient
// of leakyRelu is where(greater(x, 0), dy, alpha * dy), so the outer tape meets Greater (and
// minimum's gradient meets LessEqual). A comparison is piecewise constant, so its gradient is zero
// wherever it exists, which is what TensorFlow's "no gradient" means too.
import { tf } from '../tf.ts';

const COMPARISONS = ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual'] as const;

/** Registers zero gradients for the comparisons that lack one; idempotent, all backends. */
export function registerComparisonGradients(): string[] {
  const added: string[] = [];
  for (const kernelName of COMPARISONS) {
    if (tf.getGradient(kernelName) != null) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => {
        const [a, b] = saved as tf.Tensor[];
        return { a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) };
      },
    });
    added.push(kernelName);
  }
  return added;
}
