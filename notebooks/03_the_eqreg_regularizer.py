# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3 · The EQ-Reg regularizer
#
# **What you will learn**
#
# - the anatomy of EQ-Reg: pairing a batch with its rotated copy, forward hooks, one term per layer;
# - the paper's norm (`torch.norm` of the difference) against eqlab's scale-free default, and why the
#   paper's weight means something different for every model size;
# - the *gradient share*: how much of the update the regularizer actually drives;
# - a trap, from real runs: normalising the penalty by a **detached** feature norm lets training
#   satisfy it by shrinking the features, and the denoiser collapses to the identity.

# %%
# %matplotlib inline
import os
import time

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
from contextlib import contextmanager

import torch.nn.functional as F

from eqlab import C4, EQReg, metrics, viz
from eqlab.data import GaussianNoise, PatchSampler, center_crop, load_default
from eqlab.models import build
from eqlab.regularizer import DEFAULT_WEIGHT

torch.manual_seed(0)
train_images = load_default("train")
sampler = PatchSampler(train_images, 32, 4, torch.Generator().manual_seed(0))
y = sampler.sample()  # (4, 1, 32, 32) clean patches
x = GaussianNoise(25)(y, generator=torch.Generator().manual_seed(1))  # noisy inputs

# %% [markdown]
# ## Anatomy
#
# `EQReg` attaches to an unmodified model. It decides which layers to regularize and with which
# representation (`regular` for hidden convs, `trivial` for the image-valued last conv):

# %%
model = build("dncnn", features=16, depth=5)
reg = EQReg(model, C4(), weight=DEFAULT_WEIGHT)
reg

# %% [markdown]
# **Pairing.** One step uses `cat([x, g·x])` with a random `g ≠ e`, and the targets alike. The rotated
# half is also training data: that is why eqlab always compares with an `augment` arm (same batch,
# weight 0).

# %%
xb, yb, element = reg.group.pair(x, y, generator=torch.Generator().manual_seed(2))
print("x", tuple(x.shape), "-> paired", tuple(xb.shape), "| element:", element, f"({C4().describe(element)})")

# %% [markdown]
# **Hooks.** Inside `reg.active(element)` each chosen layer's forward hook splits its output into the
# two halves and computes its term right there, before a following `ReLU(inplace=True)` can overwrite
# the output. Outside the block, or in eval mode, nothing is recorded: inference costs nothing.

# %%
model.train()
with reg.active(element):
    out = model(xb)
task_loss = F.mse_loss(out, yb)
for name, value in reg.stats().items():
    print(f"  {name:12} term {value:.4f}")
print(f"penalty R = {reg.raw_loss().item():.4f} (mean of the terms), weighted: {reg.loss().item():.2e}, "
      f"task loss {task_loss.item():.4f}")

model.eval()
with reg.active(element):
    model(xb)
print("in eval mode the hooks record nothing:", reg.stats())


# %% [markdown]
# ## The paper's norm depends on sizes
#
# The reference code adds `‖rot_g y₀ − P_g y₁‖₂` per layer: unsquared, unnormalised. Its value grows
# with the batch, the patch and the width, so "λ = 1e-8" means something different for every model.
# eqlab's default divides by the energy of both halves (not detached, see below): each term lies in
# `[0, 2]` whatever the sizes.

# %%
def penalty(norm, batch, patch, width):
    torch.manual_seed(0)
    net = build("dncnn", features=width, depth=5).train()
    r = EQReg(net, C4(), weight=1.0, norm=norm)
    clean = torch.rand(batch, 1, patch, patch)
    xb, _, e = r.group.pair(clean, element=1)
    with r.active(e), torch.no_grad():
        net(xb)
    return r.raw_loss().item()

print(f"{'batch':>5} {'patch':>5} {'width':>5}   {'paper':>8}   {'relative':>8}")
for batch, patch, width in [(4, 32, 16), (16, 32, 16), (4, 64, 16), (4, 32, 64)]:
    print(f"{batch:5} {patch:5} {width:5}   {penalty('paper', batch, patch, width):8.3f}   "
          f"{penalty('relative', batch, patch, width):8.3f}")

# %% [markdown]
# ## Gradient share
#
# What matters is not the penalty's value but how much of the update it drives:
# `reg.gradient_share(task_loss) = ‖∇(λR)‖ / ‖∇ task‖`. For the paper's setting (DnCNN-17, 64 features,
# paper norm, λ = 1e-8) the regularizer is a whisper at initialisation; the same model with the
# relative norm at eqlab's default weight:

# %%
big = build("dncnn", features=64, depth=17).train()
patch = 32 if QUICK else 48
yy = PatchSampler(train_images, patch, 4, torch.Generator().manual_seed(3)).sample()
xx = GaussianNoise(25)(yy, generator=torch.Generator().manual_seed(4))
for norm, weight in [("paper", 1e-8), ("relative", DEFAULT_WEIGHT)]:
    r = EQReg(big, C4(), weight=weight, norm=norm)
    xb, yb, e = r.group.pair(xx, yy, element=1)
    with r.active(e):
        out = big(xb)
    share = r.gradient_share(F.mse_loss(out, yb))
    print(f"{norm:8} λ = {weight:g}: R = {r.raw_loss().item():10.4g}, gradient share {share:.2e}")
    r.remove()


# %% [markdown]
# Both are small at initialisation, where the task gradient is large. The share is not a constant:
# as the task loss falls, the same λ drives a growing part of the update (the curves below show it).
# `TrainConfig.of(share_every=...)` records it during `fit`.

# %% [markdown]
# ## A trap: the detached normalisation
#
# A tempting way to make the penalty scale-free is to divide by the feature energy **detached** from
# the graph (a constant per step):
#
# $$ R_l = \frac{\|P_g\,\mathrm{rot}_g\, y_0 - y_1\|^2}{\mathrm{sg}(\|P_g\,\mathrm{rot}_g\, y_0\|^2 + \|y_1\|^2)} $$
#
# Its value is the same as the default's. Its gradient is not: it pushes the features towards **zero**,
# since all-zero features are perfectly equivariant. In a residual denoiser `x − noise(x)`, a shrinking
# noise estimate means the output slides to the noisy input. The default keeps the denominator in the
# graph, so scaling the features cannot lower it.
#
# We write the variant with the public API, as a subclass that overrides `term` (and remembers the
# element from `active`):

# %%
class DetachedNormEQReg(EQReg):
    """EQ-Reg normalised by a detached feature energy. Do not use: it collapses."""

    @contextmanager
    def active(self, element):
        self.element = element
        with super().active(element):
            yield self

    def term(self, out, layer):
        y = out.movedim(-1, 1) if layer.channel_dim == -1 else out  # (2B, C, H, W)
        half = y.shape[0] // 2
        a = self.group.act(y[:half], self.element, layer.rep)  # P_g rot_g y0: a fresh tensor
        d = a - y[half:]  # fresh: survives the in-place ReLU after the layer
        with torch.no_grad():
            energy = a.pow(2).sum() + y[half:].pow(2).sum() + 1e-12  # the detached denominator
        return d.pow(2).sum() / energy


# %% [markdown]
# Now two real runs on equal budgets: the same net, seeds, patches, noise and rotations, the same weight;
# only the normalisation differs. The weight is large (λ = 0.1, a thousand times the default) so that a
# short run shows the effect; at small weights the detached variant drifts the same way, only slower.

# %%
STEPS = 80 if QUICK else 1500
WEIGHT = 0.1
noise = GaussianNoise(25)
test = torch.stack(center_crop(load_default("test"), 64 if QUICK else 128))  # (5, 1, s, s)
test_noisy = noise(test, generator=torch.Generator().manual_seed(0))


def train(reg_class, steps=STEPS, weight=WEIGHT):
    torch.manual_seed(0)
    net = build("dncnn", features=16 if QUICK else 32, depth=5 if QUICK else 8).to(DEVICE)
    reg = reg_class(net, C4(), weight=weight)
    patches = PatchSampler(train_images, 32 if QUICK else 48, 8, torch.Generator().manual_seed(1))
    g_noise, g_element = torch.Generator().manual_seed(2), torch.Generator().manual_seed(3)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    history = []
    for step in range(1, steps + 1):
        clean = patches.sample()
        xb, yb, element = reg.group.pair(noise(clean, generator=g_noise), clean, generator=g_element)
        net.train()
        with reg.active(element):
            out = net(xb.to(DEVICE))
        task_loss = F.mse_loss(out, yb.to(DEVICE))
        record = dict(step=step, task_loss=task_loss.item(), reg_raw=reg.raw_loss().item())
        if step % (steps // 8) == 0:
            record["grad_share"] = reg.gradient_share(task_loss)
        optimizer.zero_grad()
        (task_loss + reg.loss()).backward()
        optimizer.step()
        if step % (steps // 8) == 0 or step == steps:
            net.eval()
            with torch.no_grad():
                record["val_psnr"] = metrics.psnr(net(test_noisy.to(DEVICE)).clamp(0, 1).cpu(), test)
        history.append(record)
    return net.eval(), history


start = time.perf_counter()
runs = {"default (relative)": train(EQReg), "detached norm": train(DetachedNormEQReg)}
print(f"two runs of {STEPS} steps in {time.perf_counter() - start:.0f} s")

# %%
print(f"noisy input, clipped      PSNR {metrics.psnr(test_noisy.clamp(0, 1), test):6.2f} dB")
with torch.no_grad():
    for name, (net, history) in runs.items():
        noise_estimate = (test_noisy.to(DEVICE) - net(test_noisy.to(DEVICE))).std().item()
        print(f"{name:25} PSNR {history[-1]['val_psnr']:6.2f} dB   std of the predicted noise "
              f"{noise_estimate:.4f} (the true noise: {25 / 255:.4f})")
viz.training_curves({name: history for name, (net, history) in runs.items()})

# %%
with torch.no_grad():
    outputs = {name: net(test_noisy[:1].to(DEVICE)).cpu() for name, (net, history) in runs.items()}
viz.restoration_comparison(test[:1], test_noisy[:1], outputs)

# %% [markdown]
# **What happened.** Both penalties fall. The default gets there by making the features *equivariant*
# while the denoiser keeps learning. The detached one gets there by making them *small*: the predicted
# noise shrinks, the output slides towards the noisy input and the PSNR with it. A penalty with a
# trivial minimiser needs a normalisation that the gradient cannot game; eqlab's default keeps the
# denominator in the graph, and `tests/test_regularizer.py` checks that default-weight training does
# not collapse.
