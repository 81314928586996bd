// The preset architectures written directly as ops, so that kernels can be checked and backends
// measured on exactly the graphs training runs, without depending on the models package.
// Images are NHWC (B, 28, 28, 1) in [-1, 1]; 'same' padding; leaky ReLU alpha 0.2; batch norm
// normalizes with the batch's moments (over B, and H, W for conv maps) and epsilon 1e-5.
import { tf } from '../tf.ts';
import { mulberry32 } from '../seed.ts';

export type GraphName = 'mlp' | 'dcgan' | 'infogan' | 'workshop' | 'quick';
export const GRAPH_NAMES: readonly GraphName[] = ['mlp', 'dcgan', 'infogan', 'workshop', 'quick'];

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: 'normal' | 'ones' | 'zeros';
}

export type Params = Record<string, tf.Variable>;

export interface NetDef {
  readonly params: readonly ParamSpec[];
  /** Without the batch dimension. */
  readonly inputShape: readonly number[];
  apply(p: Params, x: tf.Tensor): tf.Tensor;
}

export interface GanGraph {
  readonly kind: 'gan';
  readonly zDim: number;
  readonly g: NetDef;
  readonly d: NetDef;
}

export interface ClassifierGraph {
  readonly kind: 'classifier';
  readonly classes: number;
  readonly net: NetDef;
}

const ALPHA = 0.2;
const BN_EPS = 1e-5;
const IMAGE = [28, 28, 1];

// Each layer contributes its parameter specs and a forward function; a net is a list of layers.
interface Layer {
  specs: ParamSpec[];
  run(p: Params, x: tf.Tensor): tf.Tensor;
}

// A layer followed by batch norm has no bias (bias: false): BN's mean subtraction cancels it, so
// its gradient would be zero up to round-off and no relative comparison could hold.
function specs(name: string, wShape: number[], cOut: number, bias: boolean): ParamSpec[] {
  const w: ParamSpec = { name: `${name}/w`, shape: wShape, init: 'normal' };
  return bias ? [w, { name: `${name}/b`, shape: [cOut], init: 'normal' }] : [w];
}

function addBias(p: Params, name: string, y: tf.Tensor, bias: boolean): tf.Tensor {
  return bias ? tf.add(y, p[`${name}/b`]) : y;
}

function dense(name: string, nIn: number, nOut: number, bias = true): Layer {
  return {
    specs: specs(name, [nIn, nOut], nOut, bias),
    run: (p, x) => addBias(p, name, tf.matMul(x as tf.Tensor2D, p[`${name}/w`] as tf.Tensor2D), bias),
  };
}

/** 'same'-padded conv, filter (k, k, cIn, cOut). */
function conv(name: string, cIn: number, cOut: number, k: number, s: number, bias = true): Layer {
  return {
    specs: specs(name, [k, k, cIn, cOut], cOut, bias),
    run: (p, x) => addBias(p, name, tf.conv2d(x as tf.Tensor4D, p[`${name}/w`] as tf.Tensor4D, s, 'same'), bias),
  };
}

/** 'same'-padded transposed conv, filter (k, k, cOut, cIn); output (B, hOut, hOut, cOut). */
function deconv(name: string, cIn: number, cOut: number, k: number, s: number, hOut: number, bias = true): Layer {
  return {
    specs: specs(name, [k, k, cOut, cIn], cOut, bias),
    run: (p, x) => {
      const outShape: [number, number, number, number] = [x.shape[0], hOut, hOut, cOut];
      return addBias(p, name, tf.conv2dTranspose(x as tf.Tensor4D, p[`${name}/w`] as tf.Tensor4D, outShape, s, 'same'), bias);
    },
  };
}

/** Batch norm over every axis but the last, with the batch's statistics. */
function batchNorm(name: string, channels: number): Layer {
  return {
    specs: [
      { name: `${name}/gamma`, shape: [channels], init: 'ones' },
      { name: `${name}/beta`, shape: [channels], init: 'zeros' },
    ],
    run: (p, x) => {
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      const scale = tf.mul(tf.rsqrt(tf.add(variance, BN_EPS)), p[`${name}/gamma`]);
      return tf.add(tf.mul(tf.sub(x, mean), scale), p[`${name}/beta`]);
    },
  };
}

function act(fn: (x: tf.Tensor) => tf.Tensor): Layer {
  return { specs: [], run: (_p, x) => fn(x) };
}

const leaky = (): Layer => act((x) => tf.leakyRelu(x, ALPHA));
const relu = (): Layer => act((x) => tf.relu(x));
const tanh = (): Layer => act((x) => tf.tanh(x));
const reshape = (shape: number[]): Layer => act((x) => tf.reshape(x, [x.shape[0], ...shape]));
const flatten = (): Layer => act((x) => tf.reshape(x, [x.shape[0], -1]));

function net(inputShape: number[], layers: Layer[]): NetDef {
  return {
    inputShape,
    params: layers.flatMap((l) => l.specs),
    apply: (p, x) => layers.reduce((h, l) => l.run(p, h), x),
  };
}

/** The two 'same' k4 s2 deconvs shared by dcgan and infogan: (B, 7, 7, 128) -> (B, 28, 28, 1). */
function deconvStack(): Layer[] {
  return [deconv('g_deconv1', 128, 64, 4, 2, 14, false), batchNorm('g_bn_deconv1', 64), relu(),
    deconv('g_deconv2', 64, 1, 4, 2, 28), tanh()];
}

/** conv64 k4 s2 leaky, conv128 k4 s2 BN leaky, flatten: (B, 28, 28, 1) -> (B, 6272). */
function convStack(c1: number, c2: number): Layer[] {
  return [conv('conv1', 1, c1, 4, 2), leaky(), conv('conv2', c1, c2, 4, 2, false), batchNorm('bn_conv2', c2), leaky(),
    flatten()];
}

function mlpGan(): GanGraph {
  const g = net([100], [dense('g1', 100, 256), leaky(), dense('g2', 256, 512), leaky(),
    dense('g3', 512, 784), tanh(), reshape(IMAGE)]);
  const d = net(IMAGE, [flatten(), dense('d1', 784, 512), leaky(), dense('d2', 512, 256), leaky(),
    dense('d3', 256, 1)]);
  return { kind: 'gan', zDim: 100, g, d };
}

function dcgan(): GanGraph {
  const g = net([100], [dense('g_fc', 100, 7 * 7 * 128, false), batchNorm('g_bn_fc', 7 * 7 * 128), relu(),
    reshape([7, 7, 128]), ...deconvStack()]);
  const d = net(IMAGE, [...convStack(64, 128), dense('d_fc', 6272, 1)]);
  return { kind: 'gan', zDim: 100, g, d };
}

function infogan(): GanGraph {
  const g = net([62], [dense('g_fc1', 62, 1024, false), batchNorm('g_bn_fc1', 1024), relu(),
    dense('g_fc2', 1024, 6272, false), batchNorm('g_bn_fc2', 6272), relu(), reshape([7, 7, 128]), ...deconvStack()]);
  const d = net(IMAGE, [...convStack(64, 128), dense('d_fc1', 6272, 1024, false), batchNorm('d_bn_fc1', 1024), leaky(),
    dense('d_fc2', 1024, 1)]);
  return { kind: 'gan', zDim: 62, g, d };
}

function workshopClassifier(): ClassifierGraph {
  return { kind: 'classifier', classes: 10, net: net(IMAGE, [...convStack(64, 128), dense('fc1', 6272, 1024, false),
    batchNorm('bn_fc1', 1024), leaky(), dense('logits', 1024, 10)]) };
}

function quickClassifier(): ClassifierGraph {
  return { kind: 'classifier', classes: 10, net: net(IMAGE, [...convStack(32, 64), dense('fc1', 3136, 128, false),
    batchNorm('bn_fc1', 128), leaky(), dense('logits', 128, 10)]) };
}

export function buildGraph(name: GraphName): GanGraph | ClassifierGraph {
  switch (name) {
    case 'mlp': return mlpGan();
    case 'dcgan': return dcgan();
    case 'infogan': return infogan();
    case 'workshop': return workshopClassifier();
    case 'quick': return quickClassifier();
  }
}

/** Standard normal draws from a seeded stream (Box-Muller), identical on every backend. */
export function seededNormal(n: number, seed: number, std = 1): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())) * std;
    const t = 2 * Math.PI * rand();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

let uid = 0;

/** Variables on the current backend; weights ~ N(0, 1/fan_in) so activations keep unit scale. */
export function initParams(specs: readonly ParamSpec[], seed: number): Params {
  const p: Params = {};
  specs.forEach((s, i) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const fanIn = s.shape.length > 1 ? size / s.shape[s.shape.length - 1] : 1;
    const values = s.init === 'normal' ? seededNormal(size, seed + 7919 * i, 1 / Math.sqrt(fanIn))
      : new Float32Array(size).fill(s.init === 'ones' ? 1 : 0);
    const init = tf.tensor(values, [...s.shape]);
    p[s.name] = tf.variable(init, true, `${s.name}#${seed}#${tf.getBackend()}#${uid++}`);
    init.dispose();
  });
  return p;
}

export function disposeParams(p: Params): void {
  for (const v of Object.values(p)) v.dispose();
}
