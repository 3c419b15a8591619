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
# image (bottom). The nets are the zoo's trained denoisers, one per arm, so nothing is trained here.
# Running this notebook needs a live kernel for the controls to respond.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
import io

from IPython.display import Image as PNG
from PIL import Image

from eqlab import C4, zoo
from eqlab.data import load_image
from eqlab.metrics import equivariance_error, mean_layer_error
from eqlab.widgets import Explorer, explore

models = {arm: zoo.load(f"denoise/{arm}")[0] for arm in ("plain", "augment", "eqreg", "strict")}
for arm, model in models.items():
    print(f"{arm:8} {type(model).__name__} {model.config}")
images = {name: load_image(name, max_side=128) for name in ("camera", "coins", "gravel")}

# %%
explorer = explore(models, images, size=48 if QUICK else 96)

# %% [markdown]
# Change a control above and both pictures are redrawn in place. The same from code: set a control's
# `value` (the observers call `update()`), read the status line (`explorer.summary` is its plain text;
# `explorer.status` is the formatted widget on the page), or take the PNG bytes of a picture.

# %%
def pixels(png: bytes) -> str:
    width, height = Image.open(io.BytesIO(png)).size
    return f"{width}×{height} px"


explorer.controls["model"].value = "strict"
explorer.controls["layer"].value = "body.0.conv"
explorer.controls["element"].value = 2
print(explorer.summary)
print("rotation panel:", pixels(explorer.panel.value))
PNG(explorer.panel.value)

# %%
explorer.controls["model"].value = "plain"
print(explorer.summary)
print("error bars:", pixels(explorer.bars.value))
PNG(explorer.bars.value)

# %% [markdown]
# ## Exercises
#
# Each solution is in the collapsed cell below its exercise (click it to expand). Try first.

# %% [markdown]
# **Exercise 1.** On the `gravel` image, which layer of the `eqreg` net is the least equivariant (the
# largest mean error with its representation)? Find it with `eqlab.metrics.equivariance_error` on
# `explorer.x`, then drive the explorer there and print its summary.

# %% tags=["solution"] jupyter={"source_hidden": true}
explorer.controls["image"].value = "gravel"
rows = equivariance_error(models["eqreg"], explorer.x, C4(), kinds=("shift",))
errors = {layer: mean_layer_error([r for r in rows if r["layer"] == layer]) for layer in dict.fromkeys(
    r["layer"] for r in rows)}
worst = max(errors, key=errors.get)
print({layer: round(value, 3) for layer, value in errors.items()})
explorer.controls["model"].value = "eqreg"
explorer.controls["layer"].value = worst
print(explorer.summary)

# %% [markdown]
# **Exercise 2.** A strict P4 net is also equivariant to the half turns alone (C2). Build an `Explorer`
# for `group="C2"` with the `plain` and `strict` nets (no need to display it), and print the summary of
# every layer of the strict net.

# %% tags=["solution"] jupyter={"source_hidden": true}
halves = Explorer({arm: models[arm] for arm in ("plain", "strict")}, images, group="C2", size=32)
halves.controls["model"].value = "strict"
for layer in halves.controls["layer"].options:
    halves.controls["layer"].value = layer
    print(halves.summary)

# %% [markdown]
# **Exercise 3.** Keep a static picture: write the explorer's current rotation panel to a PNG file in a
# temporary folder, read it back with PIL and print its size.

# %% tags=["solution"] jupyter={"source_hidden": true}
import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp(prefix="eqlab_explorer_"))
path = folder / "panel.png"
path.write_bytes(explorer.panel.value)
with Image.open(path) as picture:
    print(f"{path.name}: {picture.size[0]}×{picture.size[1]} px, {path.stat().st_size / 1024:.0f} KiB")
path.unlink()
folder.rmdir()
