// The one import of TensorFlow.js for the whole code base. The union package registers every
// gradient and the cpu backend; wasm is a side-effect import. The native backends (tfjs-node,
// tfjs-node-gpu) are optional and loaded at run time by backend.ts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setTfjsProbe } from '../telemetry/metrics.ts';

// The gantry_tfjs_* gauges and gantry_info's backend label read tfjs through this probe.
// tf.engine().state is read directly: tf.memory() would initialise a backend in a process that
// never uses one (the scheduler).
setTfjsProbe({
  numTensors: () => tf.engine().state.numTensors,
  numBytes: () => tf.engine().state.numBytes,
  backend: () => tf.getBackend() ?? undefined,
});

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
