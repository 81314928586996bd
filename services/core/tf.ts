// The one import of TensorFlow.js for the whole code base. The union package registers every
// gradient and the cpu backend; wasm is a side-effect import. The native backends (tfjs-node,
// tfjs-node-gpu) are optional and loaded at run time by backend.ts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
