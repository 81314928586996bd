// The project's central invariant over the real data plane: GAN iterations driven through the
// generator and discriminator services (Algorithm 1, Goodfellow et al. 2014) leave both models
// bit-identical to the in-process ganIteration on the same config and backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ganIteration } from '../../services/train/gan-trainer.ts';
import { DiscriminatorNode, GeneratorNode, ganConfig, RUN, serveDiscriminator, serveGenerator, setUp, stateBits } from './grpc-fixtures.ts';

test('two iterations over gRPC equal two in-process iterations bit for bit', async () => {
  const data = await setUp();
  const cfg = ganConfig({ loss: 'hinge' });
  const [g, d] = [new GeneratorNode(cfg), new DiscriminatorNode(cfg, data)];
  const [gLocal, dLocal] = [new GeneratorNode(cfg), new DiscriminatorNode(cfg, data)];
  const gs = await serveGenerator(g);
  const ds = await serveDiscriminator(d);
  try {
    for (let t = 0; t < 2; t++) {
      // (1) k D-steps: the discriminator trains on G(z) for (t, s).
      for (let s = 0; s < cfg.dSteps; s++) {
        const fake = await gs.client.generate({ runId: RUN, iteration: t, step: s }, cfg.batchSize);
        ds.arm(t, s); // as the scheduler's d-step command would
        assert.equal((await ds.client.trainStep({ runId: RUN, iteration: t, step: s }, fake)).applied, true);
      }
      // (2) G-step: D returns dL_G/dG(z') without updating; G back-propagates it.
      const id = { runId: RUN, iteration: t, step: cfg.dSteps };
      const fake = await gs.client.generate(id, cfg.batchSize);
      const { grad } = await ds.client.generatorGrad(id, fake);
      gs.arm(t, cfg.dSteps); // as the scheduler's g-step command would
      assert.equal((await gs.client.applyUpstream(id, grad)).applied, true);
      ganIteration(gLocal, dLocal, t);
    }
    assert.deepEqual(stateBits(g), stateBits(gLocal));
    assert.deepEqual(stateBits(d), stateBits(dLocal));
  } finally {
    await gs.close();
    await ds.close();
    [g, d, gLocal, dLocal].forEach((n) => n.dispose());
  }
});
