// A named float32 tensor as stored in checkpoints: plain data, no tfjs, so the run directory code
// runs in any process and the lead converts models to and from these at the seam.

export interface TensorEntry {
  name: string;
  /** Row-major dimensions; [] is a scalar. */
  shape: number[];
  /** product(shape) little-endian float32 values. */
  data: Float32Array;
}

/** Number of elements of a shape; [] (a scalar) has one. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/**
 * Checks names are unique and non-empty and that every data length matches its shape; returns a
 * description of the first problem, or undefined. `where` prefixes the message (a file, a model).
 */
export function checkTensorEntries(entries: readonly TensorEntry[], where: string): string | undefined {
  const seen = new Set<string>();
  for (const t of entries) {
    if (typeof t.name !== 'string' || t.name.length === 0) return `${where}: a tensor has an empty name`;
    if (seen.has(t.name)) return `${where}: tensor "${t.name}" appears twice`;
    seen.add(t.name);
    if (!isValidShape(t.shape)) {
      return `${where}: tensor "${t.name}" has shape ${JSON.stringify(t.shape)}; expected non-negative integers`;
    }
    if (!(t.data instanceof Float32Array)) return `${where}: tensor "${t.name}" data is not a Float32Array`;
    if (t.data.length !== numel(t.shape)) {
      return (
        `${where}: tensor "${t.name}" has shape [${t.shape.join(', ')}] (${numel(t.shape)} values) ` +
        `but ${t.data.length} values`
      );
    }
  }
  return undefined;
}
