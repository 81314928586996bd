// The sub-pixel decompositions behind the fast Conv2DBackpropInput (conv2d-backprop-input.ts).
//
// Per spatial axis with stride s, kernel k and the forward conv's leading pad p,
//   dx[y] = Σ_{oy, ky: oy·s + ky - p = y} dy[oy] · W[ky].
// The rows y of one residue class r = y mod s all meet the taps ky ≡ ρ = (r + p) mod s, namely
// ky = ρ + j·s (j < J = ceil((k - ρ) / s)), at dy[q + m - j] for y = q·s + r and m = floor((r + p) / s):
// a stride-1 correlation of dy with the filter F_r[t] = W[ρ + (J - 1 - t)·s], dy padded by J - 1 - m
// in front. Two ways to run the s² phases (ry, rx) of a 2-D transposed convolution:
//   perPhase: one XNNPACK Conv2D per phase, each giving exactly its (B, ceil(H/s), ceil(W/s), ci)
//             rows, scattered into dx. No wasted output; needs non-negative pads.
//   packed:   every phase in the output channels of one Conv2D over a common grid q of y + p,
//             (M, M, co, s·s·ci) with M = ceil(k / s), then one pass that interleaves the phases
//             and crops p (DepthToSpace(s) and a slice, fused). One call, but the common grid has
//             up to one extra row and column per phase (for k4 s2 'same' at 7x7: 8x8).
import { tf } from '../../tf.ts';
import { allocate, call, heapF32, release, type WasmBackend } from '../wasm-backend.ts';

const conv1 = (backend: WasmBackend, x: tf.TensorInfo, filter: tf.TensorInfo, pad: number[][]): tf.TensorInfo =>
  call(backend, 'Conv2D', { x, filter },
    { strides: 1, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined } as unknown as tf.NamedAttrMap);

interface Geometry {
  s: number;
  kh: number; kw: number; mh: number; mw: number;
  ci: number; co: number;
  /** Trailing zero rows/columns dy needs so that the phases cover every dx position. */
  padBottom: number; padRight: number;
  top: number; left: number;
}

function geometry(info: tf.backend_util.Conv2DInfo): Geometry {
  const s = info.strideHeight;
  const mh = Math.ceil(info.filterHeight / s);
  const mw = Math.ceil(info.filterWidth / s);
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const qh = Math.floor((top + info.inHeight - 1) / s) + 1;
  const qw = Math.floor((left + info.inWidth - 1) / s) + 1;
  return {
    s, kh: info.filterHeight, kw: info.filterWidth, mh, mw, ci: info.inChannels, co: info.outChannels,
    padBottom: Math.max(0, qh - info.outHeight), padRight: Math.max(0, qw - info.outWidth), top, left,
  };
}

/** F[ty, tx, o, (ry·s + rx)·ci + c] = W[ry + (mh-1-ty)·s, rx + (mw-1-tx)·s, c, o], else 0. */
export function packPhaseFilter(w: Float32Array, g: Geometry, f: Float32Array): void {
  const { s, kh, kw, mh, mw, ci, co } = g;
  const depth = s * s * ci;
  f.fill(0);
  for (let ty = 0; ty < mh; ty++) {
    for (let tx = 0; tx < mw; tx++) {
      for (let ry = 0; ry < s; ry++) {
        const ky = ry + (mh - 1 - ty) * s;
        if (ky >= kh) continue;
        for (let rx = 0; rx < s; rx++) {
          const kx = rx + (mw - 1 - tx) * s;
          if (kx >= kw) continue;
          const fBase = (ty * mw + tx) * co * depth + (ry * s + rx) * ci;
          const wBase = (ky * kw + kx) * ci * co;
          for (let c = 0; c < ci; c++) {
            for (let o = 0; o < co; o++) f[fBase + o * depth + c] = w[wBase + c * co + o];
          }
        }
      }
    }
  }
}

/**
 * DepthToSpace and the crop in one pass: dx[b, y, x, c] = phases[b, (y+top)/s, (x+left)/s,
 * (((y+top)%s)·s + (x+left)%s)·ci + c]. (The stock DepthToSpace kernel alone cost more than the
 * convolution here: ~50 ms for a (64, 8, 8, 256) tensor.)
 */
export function interleavePhases(phases: Float32Array, pShape: number[], dx: Float32Array, dxShape: number[], s: number,
  top: number, left: number): void {
  const [, qh, qw, depth] = pShape;
  const [nb, h, w, ci] = dxShape;
  let d = 0;
  for (let b = 0; b < nb; b++) {
    for (let y = 0; y < h; y++) {
      const yy = y + top;
      const rowBase = (b * qh + Math.floor(yy / s)) * qw;
      const ry = (yy % s) * s;
      for (let x = 0; x < w; x++) {
        const xx = x + left;
        let src = (rowBase + Math.floor(xx / s)) * depth + (ry + (xx % s)) * ci;
        for (let c = 0; c < ci; c++) dx[d++] = phases[src++];
      }
    }
  }
}

export function packedPhases(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const g = geometry(info);
  const packed = allocate(backend, [g.mh, g.mw, g.co, g.s * g.s * g.ci]);
  packPhaseFilter(heapF32(backend, filter), g, packed.data);
  const phases = conv1(backend, dy, packed.info, [[0, 0], [g.mh - 1, g.padBottom], [g.mw - 1, g.padRight], [0, 0]]);
  release(backend, packed.info);
  const dx = allocate(backend, info.inShape);
  interleavePhases(heapF32(backend, phases), phases.shape, dx.data, info.inShape, g.s, g.top, g.left);
  release(backend, phases);
  return dx.info;
}

/** One axis of one phase r: taps J, the dy padding (front, back) and the number of dx rows. */
interface AxisPhase { r: number; rho: number; taps: number; front: number; back: number; count: number }

/** The phases of one axis, or null when some phase would need negative padding of dy. */
export function axisPhases(k: number, s: number, lead: number, inLen: number, outLen: number): AxisPhase[] | null {
  const phases: AxisPhase[] = [];
  for (let r = 0; r < s; r++) {
    const rho = (r + lead) % s;
    const m = Math.floor((r + lead) / s);
    const taps = rho >= k ? 0 : Math.ceil((k - rho) / s);
    const count = Math.max(0, Math.ceil((inLen - r) / s));
    const front = taps - 1 - m;
    const back = count + taps - 1 - front - outLen;
    if (taps > 0 && count > 0 && (front < 0 || back < 0)) return null;
    phases.push({ r, rho, taps, front, back, count });
  }
  return phases;
}

/** F[ty, tx, o, c] = W[ρy + (Jy-1-ty)·sy, ρx + (Jx-1-tx)·sx, c, o] for one phase. */
function phaseFilter(w: Float32Array, f: Float32Array, py: AxisPhase, px: AxisPhase, sy: number, sx: number,
  kw: number, ci: number, co: number): void {
  for (let ty = 0; ty < py.taps; ty++) {
    const ky = py.rho + (py.taps - 1 - ty) * sy;
    for (let tx = 0; tx < px.taps; tx++) {
      const kx = px.rho + (px.taps - 1 - tx) * sx;
      const wBase = (ky * kw + kx) * ci * co;
      const fBase = (ty * px.taps + tx) * co * ci;
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) f[fBase + o * ci + c] = w[wBase + c * co + o];
      }
    }
  }
}

/** dx[b, qy·sy + ry, qx·sx + rx, :] = out[b, qy, qx, :]. */
function scatterPhase(out: Float32Array, dx: Float32Array, dxShape: number[], py: AxisPhase, px: AxisPhase, sy: number, sx: number): void {
  const [nb, h, w, ci] = dxShape;
  let src = 0;
  for (let b = 0; b < nb; b++) {
    for (let qy = 0; qy < py.count; qy++) {
      const rowBase = (b * h + qy * sy + py.r) * w;
      for (let qx = 0; qx < px.count; qx++) {
        let d = (rowBase + qx * sx + px.r) * ci;
        for (let c = 0; c < ci; c++) dx[d++] = out[src++];
      }
    }
  }
}

function runPhase(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, dx: tf.TensorInfo,
  py: AxisPhase, px: AxisPhase, info: tf.backend_util.Conv2DInfo): void {
  const { inChannels: ci, outChannels: co, strideHeight: sy, strideWidth: sx } = info;
  const f = allocate(backend, [py.taps, px.taps, co, ci]);
  phaseFilter(heapF32(backend, filter), f.data, py, px, sy, sx, info.filterWidth, ci, co);
  const out = conv1(backend, dy, f.info, [[0, 0], [py.front, py.back], [px.front, px.back], [0, 0]]); // (B, count_y, count_x, ci)
  release(backend, f.info);
  scatterPhase(heapF32(backend, out), heapF32(backend, dx), info.inShape, py, px, sy, sx);
  release(backend, out);
}

/** dx from one convolution per phase, or null when the geometry needs the packed form. */
export function perPhase(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo | null {
  const ys = axisPhases(info.filterHeight, info.strideHeight, info.padInfo.top, info.inHeight, info.outHeight);
  const xs = axisPhases(info.filterWidth, info.strideWidth, info.padInfo.left, info.inWidth, info.outWidth);
  if (ys == null || xs == null) return null;
  const dx = backend.makeOutput(info.inShape, 'float32');
  if (ys.some((p) => p.taps === 0) || xs.some((p) => p.taps === 0)) heapF32(backend, dx).fill(0);
  for (const py of ys) {
    for (const px of xs) {
      if (py.count > 0 && px.count > 0 && py.taps > 0 && px.taps > 0) runPhase(backend, dy, filter, dx, py, px, info);
    }
  }
  return dx;
}
