// G(z') of G-step t, computed ahead while the discriminator runs its last D-step (t, k-1) in its
// own process. G's weights do not change between G-step t-1 and G-step t, and z' is a pure
// function of (seed, t), so the batch computed ahead is exactly the batch generate(t, k) would
// compute when the G-step command arrives: the two processes overlap work that the in-process
// trainer does one after the other, and the results stay bit for bit the same.
//
// Trigger: the generator answers GeneratorService.Generate for (t, k-1); a short timer later (the
// response is on the socket by then) it computes G(z'_t). A batch is used only by the G-step of
// its iteration, on the same node (a restore brings a new one) with the same applied iteration.
//
// Shared batches (shareServed, a discriminator replica group): each of the N ranks asks
// Generate(t, s) for the whole batch and keeps its rows; the first answer's images are kept and
// served again to the others (same node, same applied iteration, same (t, s): the same bits), so
// G computes each batch once.
import { tf } from '../core/tf.ts';
import type { GeneratorNode } from '../core/gan/generator-node.ts';

interface Ahead {
  node: GeneratorNode;
  /** node.lastAppliedIteration when it was computed: the weights it was computed with. */
  applied: number;
  iteration: number;
  fake: tf.Tensor4D; // (B, 28, 28, 1)
}

interface Served {
  node: GeneratorNode;
  applied: number;
  iteration: number;
  step: number;
  images: Float32Array; // (B, 28, 28, 1) row-major
  shape: [number, number, number, number];
}

export class Lookahead {
  /** Serve repeated Generate(t, s) calls from the first answer (set per run at restore). */
  shareServed = false;
  private ahead: Ahead | undefined;
  private timer: NodeJS.Timeout | undefined;
  private served: Served | undefined;

  constructor(
    /** The node currently served (undefined before the first restore). */
    private readonly current: () => GeneratorNode | undefined,
    private readonly delayMs = 5,
  ) {}

  /**
   * `view` (what the gRPC service calls), with generate() scheduling G(z'_t) after it served the
   * last D-step's batch (t, k-1).
   */
  wrap<T extends Pick<GeneratorNode, 'generate' | 'cfg'>>(view: T): T {
    const generate = (iteration: number, step: number): tf.Tensor4D => {
      const fake = this.shareServed ? this.sharedGenerate(view, iteration, step) : view.generate(iteration, step);
      if (step === view.cfg.dSteps - 1) this.schedule(iteration);
      return fake;
    };
    return new Proxy(view, { get: (target, key) => (key === 'generate' ? generate : Reflect.get(target, key)) });
  }

  private sharedGenerate(view: Pick<GeneratorNode, 'generate'>, iteration: number, step: number): tf.Tensor4D {
    const node = this.current();
    const s = this.served;
    if (s && node && s.node === node && s.applied === node.lastAppliedIteration && s.iteration === iteration && s.step === step) {
      return tf.tensor4d(s.images, s.shape);
    }
    const fake = view.generate(iteration, step);
    if (node) {
      this.served = {
        node, applied: node.lastAppliedIteration, iteration, step,
        images: Float32Array.from(fake.dataSync() as Float32Array), shape: fake.shape as [number, number, number, number],
      };
    }
    return fake;
  }

  /** G(z') for the G-step of `iteration`: the batch computed ahead when it is valid, else computed now. Caller disposes. */
  take(node: GeneratorNode, iteration: number): tf.Tensor4D {
    this.cancel();
    const a = this.ahead;
    this.ahead = undefined;
    if (a && a.node === node && a.applied === node.lastAppliedIteration && a.iteration === iteration) return a.fake;
    a?.fake.dispose();
    return node.generate(iteration, node.cfg.dSteps);
  }

  private schedule(iteration: number): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const node = this.current();
      if (!node || node.lastAppliedIteration !== iteration - 1) return; // not the G-step that comes next
      const a = this.ahead;
      if (a && a.node === node && a.applied === node.lastAppliedIteration && a.iteration === iteration) return; // a retried D-step
      this.clear();
      this.ahead = { node, applied: node.lastAppliedIteration, iteration, fake: node.generate(iteration, node.cfg.dSteps) };
    }, this.delayMs);
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Drops any batch computed ahead (restore, shutdown). */
  clear(): void {
    this.cancel();
    this.served = undefined;
    this.ahead?.fake.dispose();
    this.ahead = undefined;
  }
}
