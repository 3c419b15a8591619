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
# # 7 · The interactive explorer
#
# **What you will learn**
#
# - how to browse, for any net and image, how one layer's feature maps answer a rotated input
#   (`eqlab.widgets.Explorer`): pick the arm, the image, the layer, the field and the rotation;
# - how to drive the explorer from code (what the tests do), and to keep a static picture of it.
#
# The pictures are `viz.rotation_panel` (top) and `viz.layer_error_bars` of every net on the current
# image (bottom). Running this notebook needs a live kernel for the controls to respond.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
from IPython.display import Image as PNG

from eqlab.data import load_image
from eqlab.train import TrainConfig, fit
from eqlab.widgets import explore

base = TrainConfig.of(task="denoise", features=8 if QUICK else 32, depth=4 if QUICK else 8,
                   steps=30 if QUICK else 1000, batch_size=8, patch_size=32, val_size=48, val_every=0,
                   share_every=0, device="auto")
models = {arm: fit(base.replace(arm=arm), progress=False).model.cpu()
          for arm in ("plain", "eqreg", "strict")}
images = {name: load_image(name, max_side=128) for name in ("camera", "coins", "gravel")}

# %%
explorer = explore(models, images, size=48 if QUICK else 96)

# %% [markdown]
# Change a control above and both pictures are redrawn in place. The same from code: set a control's
# `value` (the observers call `update()`), read the status line, or take the PNG bytes of a picture.

# %%
explorer.controls["model"].value = "strict"
explorer.controls["layer"].value = "body.0.conv"
explorer.controls["element"].value = 2
print(explorer.status.value)
PNG(explorer.panel.value)

# %%
explorer.controls["model"].value = "plain"
print(explorer.status.value)
PNG(explorer.bars.value)
