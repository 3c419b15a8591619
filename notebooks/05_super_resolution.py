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
# # 5 · Super-resolution and the PixelShuffle representation
#
# **What you will learn**
#
# - why the conv before `PixelShuffle(2)` needs its own representation: its channels are the four
#   sub-pixels of each 2×2 output block, and a quarter turn moves them around the block
#   (not a cyclic shift);
# - proof by example: a perfectly equivariant upsampler shows a **non-zero** error when measured with
#   the regular representation, and zero with `pixel_shuffle(2)`;
# - an SR training comparison of the arms, against bicubic up-scaling.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
import torch.nn as nn

from eqlab import C4, viz
from eqlab.data import BicubicDown, bicubic_up, center_crop, load_image
from eqlab.groups import pixel_shuffle, regular
from eqlab.metrics import equivariance_error, mean_layer_error, output_equivariance_error
from eqlab.models import BicubicUpsample
from eqlab.train import TrainConfig, fit

g = C4()
SIZE = 64 if QUICK else 192
clean = center_crop(load_image("chelsea", max_side=2 * SIZE), SIZE)[None]  # (1, 1, SIZE, SIZE)
low = BicubicDown(2)(clean)  # (1, 1, SIZE / 2, SIZE / 2)

# %% [markdown]
# ## Sub-pixels under a quarter turn
#
# `PixelShuffle(2)` turns channels `(0, 1, 2, 3)` of one pixel into the 2×2 block `[[0, 1], [2, 3]]`.
# Rotate the block counter-clockwise: the top-left sub-pixel becomes the bottom-left, and so on; the
# channels go round as `0 → 2 → 3 → 1`, not `0 → 1 → 2 → 3`.

# %%
viz.channel_shift_diagram(g, ["regular", "pixel_shuffle(2)"], channels=4)


# %% [markdown]
# ## A correctly equivariant upsampler, measured two ways
#
# We build an upsampler that is exactly equivariant: bicubic up-scaling (which commutes with quarter
# turns), written in the sub-pixel layout an SR net produces (`PixelUnshuffle`), then `PixelShuffle`.
# Its output is exact; its `upsampler` layer is exact *in the right representation only*.

# %%
class SubPixelBicubic(nn.Module):
    """Bicubic x2 in the sub-pixel layout: (B, 1, H, W) -> upsampler (B, 4, H, W) -> (B, 1, 2H, 2W)."""

    def __init__(self):
        super().__init__()
        self.upsampler = nn.Sequential(BicubicUpsample(2), nn.PixelUnshuffle(2))
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.upsampler(x))


up = SubPixelBicubic()
print(f"output error: {max(output_equivariance_error(up, low, g).values()):.1e}")
for name, rep in [("regular", regular()), ("pixel_shuffle(2)", pixel_shuffle(2))]:
    rows = equivariance_error(up, low, g, layers=["upsampler"], reps={"upsampler": rep}, kinds=("shift",))
    per_element = ", ".join(f"{g.describe(r['element'])}: {r['value']:.3f}" for r in rows)
    print(f"upsampler measured with {name:17} mean {mean_layer_error(rows):.2e}   ({per_element})")

# %%
viz.rotation_panel(up, low, g, element=1, layer="upsampler", rep=regular())

# %%
viz.rotation_panel(up, low, g, element=1, layer="upsampler", rep=pixel_shuffle(2))

# %% [markdown]
# Measured with the regular representation, every rotation reports an error, although the layer is
# exactly equivariant: the cyclic shift puts sub-pixel 0 where the rotation puts sub-pixel 1. The
# error is small only because neighbouring sub-pixels of a smooth image are alike; on fine texture it
# grows. Regularizing this layer with the wrong representation would push a correct net *away* from
# equivariance. `SRNet.equivariance_reps` therefore gives its `upsampler` `pixel_shuffle(scale)`, and
# EQ-Reg uses it automatically.

# %% [markdown]
# ## Training: the arms on equal budgets

# %%
base = TrainConfig.of(task="sr", scale=2, features=16 if QUICK else 32, depth=4 if QUICK else 8,
                   steps=60 if QUICK else 2000, batch_size=8, patch_size=32 if QUICK else 64,
                   val_size=48 if QUICK else 128, val_every=0 if QUICK else 250, share_every=0, device="auto")
arms = ["plain", "augment", "eqreg"] if QUICK else ["plain", "augment", "eqreg", "strict"]
results = {arm: fit(base.replace(arm=arm), progress=False) for arm in arms}
first = next(iter(results.values())).metrics
print(f"{'bicubic':8} PSNR {first['baseline_psnr']:6.2f} dB  SSIM {first['baseline_ssim']:.3f}")
for arm, r in results.items():
    m = r.metrics
    print(f"{arm:8} PSNR {m['psnr']:6.2f} dB  SSIM {m['ssim']:.3f}  output error {m['output_error']:.3f}  "
          f"layer error {m['layer_error']:.3f}  ({r.wall_time_s:.0f} s)")

# %%
with torch.no_grad():
    outputs = {"bicubic": bicubic_up(low, 2), **{arm: r.model.cpu()(low) for arm, r in results.items()}}
viz.restoration_comparison(clean, low, outputs, crop_border=2)

# %%
viz.layer_error_bars({arm: equivariance_error(r.model, low, g, kinds=("shift", "none")) for arm, r in results.items()})

# %% [markdown]
# **Take-aways.** A representation is part of the question "is this layer equivariant?". The wrong one
# reports a false error for a correct layer; used in the penalty, it would fight a correct solution.
