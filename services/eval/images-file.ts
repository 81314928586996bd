// Images from outside gantry for `gantry eval --images FILE.npy`: a NumPy array of 28 x 28
// images, so samples of any other trainer (a PyTorch reference, say) are scored by the same
// classifier and the same code as gantry's own. Accepted: shape (N, 28, 28), (N, 28, 28, 1) or
// (N, 784), C order; float32/float64 in [-1, 1] (the generators' tanh range), or uint8 0..255
// (MNIST's own pixels, mapped to [-1, 1] as the data loader does).
import { readFile } from 'node:fs/promises';
import { parse } from 'npyjs';
import { EvalInputError } from './errors.ts';

const SIDE = 28;
const PIXELS = SIDE * SIDE;

function imageCount(file: string, shape: readonly number[]): number {
  const [n, ...rest] = shape;
  const ok = rest.join(',') === `${SIDE},${SIDE}` || rest.join(',') === `${SIDE},${SIDE},1` || rest.join(',') === String(PIXELS);
  if (!ok || n === undefined) {
    throw new EvalInputError(`${file}: shape (${shape.join(', ')}): expected (N, 28, 28), (N, 28, 28, 1) or (N, 784)`);
  }
  if (n < 2) throw new EvalInputError(`${file}: ${n} image(s): the scores need at least 2`);
  return n;
}

/** The file's images as one flat (N, 28, 28, 1) float32 array in [-1, 1]. */
export async function readImagesFile(file: string): Promise<Float32Array> {
  const bytes = await readFile(file);
  let array;
  try {
    array = parse(Uint8Array.from(bytes).buffer);
  } catch (err) {
    throw new EvalInputError(`${file}: not a readable .npy file (${(err as Error).message})`, { cause: err });
  }
  if (array.fortranOrder) throw new EvalInputError(`${file}: Fortran-order array; save it in C order (np.ascontiguousarray)`);
  const n = imageCount(file, array.shape);
  const { data, dtype } = array;
  if (dtype === 'u1' && data instanceof Uint8Array) {
    return Float32Array.from(data, (v) => v / 127.5 - 1);
  }
  if ((dtype === 'f4' && data instanceof Float32Array) || (dtype === 'f8' && data instanceof Float64Array)) {
    const out = data instanceof Float32Array ? data : Float32Array.from(data);
    for (let i = 0; i < n * PIXELS; i++) {
      const v = out[i];
      if (!(v >= -1 && v <= 1)) {
        const at = `image ${Math.floor(i / PIXELS)}, pixel ${i % PIXELS}`;
        throw new EvalInputError(`${file}: ${at} is ${v}: expected a value in [-1, 1] (float images) or a uint8 array`);
      }
    }
    return out;
  }
  throw new EvalInputError(`${file}: dtype ${dtype}: expected float32, float64 (values in [-1, 1]) or uint8 (0..255)`);
}
