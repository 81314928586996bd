// Each GAN loss and the softmax cross-entropy against values computed by hand.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { ganLoss, gradientPenalty, meanOutput, softmaxCrossEntropy } from '../../services/core/losses.ts';

before(async () => {
  await tf.setBackend('cpu');
});

const r = [2, -1]; // D's raw scores on two real images
const f = [0.5, -3]; // and on two fakes
const sp = (x: number) => Math.log1p(Math.exp(x)); // softplus
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function values(name: Parameters<typeof ganLoss>[0]): { d: number; g: number } {
  const loss = ganLoss(name);
  return tf.tidy(() => ({
    d: loss.discriminator(tf.tensor2d(r, [2, 1]), tf.tensor2d(f, [2, 1])).dataSync()[0],
    g: loss.generator(tf.tensor2d(f, [2, 1])).dataSync()[0],
  }));
}

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('non-saturating: L_D = -log s(r) - log(1 - s(f)), L_G = -log s(f)', () => {
  const { d, g } = values('nonsaturating');
  close(d, mean(r.map((x) => sp(-x))) + mean(f.map(sp)));
  close(g, mean(f.map((x) => -Math.log(1 / (1 + Math.exp(-x))))));
});

test('minimax: L_G = log(1 - s(f))', () => {
  const { d, g } = values('minimax');
  close(d, mean(r.map((x) => sp(-x))) + mean(f.map(sp)));
  close(g, mean(f.map((x) => Math.log(1 - 1 / (1 + Math.exp(-x))))));
});

test('lsgan: L_D = ((r-1)^2 + f^2)/2, L_G = (f-1)^2/2', () => {
  const { d, g } = values('lsgan');
  close(d, 0.5 * (mean(r.map((x) => (x - 1) ** 2)) + mean(f.map((x) => x ** 2))));
  close(g, 0.5 * mean(f.map((x) => (x - 1) ** 2)));
});

test('wgan-gp critic terms: L_D = f - r, L_G = -f', () => {
  const { d, g } = values('wgan-gp');
  close(d, mean(f) - mean(r));
  close(g, -mean(f));
  assert.equal(ganLoss('wgan-gp').gradientPenalty, true);
});

test('hinge: L_D = relu(1 - r) + relu(1 + f), L_G = -f', () => {
  const { d, g } = values('hinge');
  close(d, mean(r.map((x) => Math.max(0, 1 - x))) + mean(f.map((x) => Math.max(0, 1 + x))));
  close(g, -mean(f));
});

test('sigmoid losses stay finite for huge scores', () => {
  const loss = ganLoss('nonsaturating');
  const d = tf.tidy(() => loss.discriminator(tf.tensor2d([-200], [1, 1]), tf.tensor2d([200], [1, 1])).dataSync()[0]);
  close(d, 400, 1e-4);
});

test('meanOutput: probability for sigmoid losses, raw score otherwise', () => {
  tf.tidy(() => {
    const s = tf.tensor2d([0, 0], [2, 1]);
    close(meanOutput(ganLoss('nonsaturating'), s).dataSync()[0], 0.5);
    close(meanOutput(ganLoss('lsgan'), tf.tensor2d([1, 3], [2, 1])).dataSync()[0], 2);
  });
});

test('gradient penalty of a linear critic D(x) = sum(w x) is lambda (|w| - 1)^2', () => {
  // The gradient of a linear critic is w everywhere, whatever the interpolation.
  const gp = tf.tidy(() => {
    const w = tf.fill([1, 2, 2, 1], 1); // |w| = 2
    const critic = (x: tf.Tensor) => tf.sum(tf.mul(x, w), [1, 2, 3]);
    const real = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const fake = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    return gradientPenalty(critic, real, fake, 10, 7).dataSync()[0];
  });
  close(gp, 10 * (2 - 1) ** 2, 1e-4);
});

test('softmax cross-entropy matches -log softmax(logits)[label]', () => {
  const logits = [[1, 2, 3], [0, 0, 5]];
  const labels = [2, 0];
  const expected = mean(logits.map((row, i) => {
    const lse = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
    return lse - row[labels[i]];
  }));
  const got = tf.tidy(() => softmaxCrossEntropy(tf.tensor2d(logits), tf.tensor1d(labels, 'int32')).dataSync()[0]);
  close(got, expected);
});
