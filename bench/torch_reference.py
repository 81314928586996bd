"""PyTorch reference timings for gantry's presets (a yardstick inside the benchmarks only; gantry
never depends on PyTorch). The networks and the step are gantry's (services/core/models/ and
services/train/gan-trainer.ts), so the figures compare kernels, not algorithms:

  GAN step (k = 1): fake = G(z) without grad; D update on D(real), D(fake);
                    fake' = G(z') without grad; dL_G/dfake' through D (D's params untouched);
                    G(z') again under autograd, backward with that upstream gradient; G update.
  Classifier step:  one Adam update on softmax cross-entropy.

Usage: python3 bench/torch_reference.py [--threads 2] [--batch 64] [--steps 10] [presets...]
Prints one line per preset and, last, one JSON object {"torch": version, "threads": n, "ms": {...}}.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LEAK = 0.2


class Leaky(nn.Module):
    def forward(self, x):
        return F.leaky_relu(x, LEAK)


def mlp_gan():
    g = nn.Sequential(nn.Linear(100, 256), Leaky(), nn.Linear(256, 512), Leaky(), nn.Linear(512, 784), nn.Tanh(),
                      nn.Unflatten(1, (1, 28, 28)))
    d = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), Leaky(), nn.Linear(512, 256), Leaky(), nn.Linear(256, 1))
    return g, d, 100


def conv_body(width, dense, outputs):
    """conv w k4 s2 leaky; conv 2w k4 s2 BN leaky; [dense u BN leaky]; dense outputs ('same' = pad 1)."""
    layers = [nn.Conv2d(1, width, 4, 2, 1), Leaky(), nn.Conv2d(width, 2 * width, 4, 2, 1),
              nn.BatchNorm2d(2 * width, eps=1e-5, momentum=0.1), Leaky(), nn.Flatten()]
    flat = 7 * 7 * 2 * width
    if dense:
        layers += [nn.Linear(flat, dense), nn.BatchNorm1d(dense, eps=1e-5, momentum=0.1), Leaky()]
        flat = dense
    return nn.Sequential(*layers, nn.Linear(flat, outputs))


def conv_gan(z_dim, width, g_dense, d_dense):
    g = []
    n_in = z_dim
    if g_dense:
        g += [nn.Linear(z_dim, g_dense), nn.BatchNorm1d(g_dense), nn.ReLU()]
        n_in = g_dense
    g += [nn.Linear(n_in, 7 * 7 * 2 * width), nn.BatchNorm1d(7 * 7 * 2 * width), nn.ReLU(),
          nn.Unflatten(1, (2 * width, 7, 7)),
          nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
          nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*g), conv_body(width, d_dense, 1), z_dim


def adam(params):
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8)


def gan_step_fn(g, d, z_dim, batch):
    opt_g, opt_d = adam(g.parameters()), adam(d.parameters())
    real = torch.rand(batch, 1, 28, 28) * 2 - 1

    def step():
        with torch.no_grad():
            fake = g(torch.randn(batch, z_dim))
        opt_d.zero_grad(set_to_none=True)
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        loss_d.backward()
        opt_d.step()
        with torch.no_grad():
            fake2 = g(torch.randn(batch, z_dim))
        fake2.requires_grad_(True)
        loss_g = F.softplus(-d(fake2)).mean()
        (upstream,) = torch.autograd.grad(loss_g, fake2)
        opt_g.zero_grad(set_to_none=True)
        g(torch.randn(batch, z_dim)).backward(upstream)
        opt_g.step()
        return loss_d.item() + loss_g.item()

    return step


def classifier_step_fn(net, batch):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28) * 2 - 1
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def build(preset, batch):
    if preset == 'mlp':
        return gan_step_fn(*mlp_gan(), batch)
    if preset == 'dcgan':
        return gan_step_fn(*conv_gan(100, 64, 0, 0), batch)
    if preset == 'infogan':
        return gan_step_fn(*conv_gan(62, 64, 1024, 1024), batch)
    if preset == 'workshop':
        return classifier_step_fn(conv_body(64, 1024, 10), batch)
    if preset == 'quick':
        return classifier_step_fn(conv_body(32, 128, 10), batch)
    raise SystemExit(f"unknown preset {preset!r}: expected mlp, dcgan, infogan, workshop, quick")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('presets', nargs='*', default=['mlp', 'dcgan', 'infogan', 'workshop', 'quick'])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {}
    for preset in args.presets:
        step = build(preset, args.batch)
        for _ in range(args.warmup):
            step()
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1000)
        out[preset] = round(statistics.median(times), 2)
        print(f"{preset}: {out[preset]} ms/step (median of {args.steps}, min {min(times):.2f})", flush=True)
    print(json.dumps({'torch': torch.__version__, 'threads': args.threads, 'batch': args.batch, 'ms': out}))


if __name__ == '__main__':
    main()
