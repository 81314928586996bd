// Conv2DBackpropFilter (the filter gradient of conv2d and conv2dTranspose), which stock wasm lacks,
// as one dilated XNNPACK convolution:
//   dW[ky, kx, c, o] = Σ_{b, oy, ox} x[b, oy·s + ky - pt, ox·s + kx - pl, c] · dy[b, oy, ox, o]
// is a stride-1 convolution of x' = x laid out (ci, H, W, B) with the "filter" dy' = dy laid out
// (Ho, Wo, B, co) at dilation s, padded by (pt, pb) and (pl, pr) so that the output is (ci, kh, kw, co).
// Filters with few taps use an im2col product instead (see IM2COL_MAX_TAPS).
// (The wasm Conv3DBackpropFilterV2 kernel must not be used instead: it is wrong for strides > 1.)
import { tf } from '../../tf.ts';
import { allocate, call, heapF32, release, reshape, transpose, type WasmBackend } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';

// With few input channels (the first layer: ci = 1, 16 taps) the dilated convolution has only
// kh·kw·ci output rows per channel and XNNPACK ran it at ~2.5 GFLOP/s; an explicit im2col matrix
// and one matrix product were faster (10.6 -> 7.7 ms for 1 -> 64 at batch 64). Above this many taps the dilated form wins.
const IM2COL_MAX_TAPS = 64;

/** Trailing padding that makes the dilated correlation's output exactly k long (may be < 0). */
function trailingPad(k: number, outLen: number, s: number, inLen: number, lead: number): number {
  return k + (outLen - 1) * s - inLen - lead;
}

function dilatedFilterGrad(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { top, left } = info.padInfo;
  const pb = trailingPad(info.filterHeight, info.outHeight, info.strideHeight, info.inHeight, top);
  const pr = trailingPad(info.filterWidth, info.outWidth, info.strideWidth, info.inWidth, left);
  let xT = transpose(backend, x, [3, 1, 2, 0]); // (ci, H, W, B)
  if (pb < 0 || pr < 0) {
    // Rows/columns past the last window never meet dy: drop them instead of padding negatively.
    const cropped = call(backend, 'Slice', { x: xT }, {
      begin: [0, 0, 0, 0], size: [xT.shape[0], info.inHeight + Math.min(pb, 0), info.inWidth + Math.min(pr, 0), xT.shape[3]],
    });
    release(backend, xT);
    xT = cropped;
  }
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // (Ho, Wo, B, co)
  const pad = [[0, 0], [top, Math.max(pb, 0)], [left, Math.max(pr, 0)], [0, 0]];
  const grad = call(backend, 'Conv2D', { x: xT, filter: dyT }, {
    strides: 1, pad, dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth], dimRoundingMode: undefined,
  } as unknown as tf.NamedAttrMap); // (ci, kh, kw, co)
  release(backend, xT, dyT);
  const dw = transpose(backend, grad, [1, 2, 0, 3]); // (kh, kw, ci, co)
  release(backend, grad);
  return dw;
}

/** P[(b, oy, ox), (ky, kx, c)] = x[b, oy·sh + ky - pt, ox·sw + kx - pl, c], or 0 outside. (N, K) */
function im2col(x: Float32Array, p: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo,
    filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  let d = 0;
  for (let b = 0; b < nb; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * sh + ky - top;
          for (let kx = 0; kx < kw; kx++) {
            const xx = ox * sw + kx - left;
            const inside = y >= 0 && y < h && xx >= 0 && xx < w;
            const base = ((b * h + y) * w + xx) * ci;
            for (let c = 0; c < ci; c++) p[d++] = inside ? x[base + c] : 0;
          }
        }
      }
    }
  }
}

/** dWᵀ (co, K) = dyᵀ (co, N) · P (N, K), then transposed to (kh, kw, ci, co). */
function im2colFilterGrad(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const n = info.batchSize * info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const co = info.outChannels;
  const patches = allocate(backend, [1, n, k]);
  im2col(heapF32(backend, x), patches.data, info);
  const dy3 = reshape(backend, dy, [1, n, co]);
  const dyT = transpose(backend, dy3, [0, 2, 1]); // (1, co, N)
  const dwT = call(backend, 'BatchMatMul', { a: dyT, b: patches.info }, { transposeA: false, transposeB: false }); // (1, co, K)
  release(backend, patches.info, dy3, dyT);
  const dw = transpose(backend, dwT, [0, 2, 1]); // (1, K, co)
  release(backend, dwT);
  const out = reshape(backend, dw, [info.filterHeight, info.filterWidth, info.inChannels, co]);
  release(backend, dw);
  return out;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape,
    strides, 1, pad, dimRoundingMode, false, format);
  if (format !== 'channelsLast' || x.dtype !== 'float32') return call(wasm, 'Conv2DBackpropFilter', inputs, attrs);
  if (info.filterHeight * info.filterWidth * info.inChannels <= IM2COL_MAX_TAPS) return im2colFilterGrad(wasm, x, dy, info);
  return dilatedFilterGrad(wasm, x, dy, info);
}

export const conv2DBackpropFilterKernel: FastKernel = { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter };
