# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7 · An inquiry with the interactive explorer
#
# **What you will learn**
#
# - to answer questions about trained nets by looking, then to check the answer by measuring: the
#   explorer (`eqlab.widgets.Explorer`) shows how one layer's feature maps answer a rotated input, and
#   `eqlab.metrics` turns what you saw into numbers;
# - three questions, each an exercise with its solution below it:
#   1. *Where is the error with `P_g` equal to the error without it?* (what a channel permutation can and
#      cannot see);
#   2. *Which arm's layer profile is flat, and why?* (what each training arm asks of each layer);
#   3. *Where is C8's floor?* (what interpolation costs at 45°, and which nets reach it).
# - and the question the kit exists for, answered from the regime map: *when does a softly equivariant net
#   pay* — against augmentation, test-time averaging and a strict net — and what part of it is the rotated
#   data and what part the penalty.
#
# The pictures are `viz.rotation_panel` (top: `f(g·x)` next to `P_g rot_g f(x)` for one field) and
# `viz.layer_error_bars` of every net on the current image (bottom). The nets are the zoo's trained
# denoisers, one per arm the zoo offers, so nothing is trained here. Running this notebook needs a live
# kernel for the controls to respond; the solutions drive the controls from code, as the tests do.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MODE = "quick" if QUICK else DEVICE  # sizes are chosen by device: "cpu" fits a laptop, "cuda" looks closer
print(f"mode: {MODE} · torch {torch.__version__}")

# %%
from eqlab import C4, C8, zoo
from eqlab.data import load_image
from eqlab.metrics import (
    equivariance_components,
    equivariance_error,
    error_vs_angle,
    mean_layer_error,
    orientation_summary,
    relative_error,
    rotation_view,
    words,
)
from eqlab.widgets import Explorer, explore

arms = [name.split("/")[1] for name in zoo.available() if name.startswith("denoise/")]
arms.sort(key=lambda arm: ["plain", "augment", "eqreg-relative", "eqreg", "strict"].index(arm)
          if arm in ("plain", "augment", "eqreg-relative", "eqreg", "strict") else 9)
models = {arm: zoo.load(f"denoise/{arm}")[0] for arm in arms}
for arm, model in models.items():
    print(f"{arm:15} {type(model).__name__} {model.config}")
images = {name: load_image(name, max_side=128) for name in ("camera", "coins", "gravel")}
SIZE = {"quick": 48, "cpu": 96, "cuda": 128}[MODE]

# %%
explorer = explore(models, images, size=SIZE)

# %% [markdown]
# Change a control above and both pictures are redrawn in place. The same from code: set a control's
# `value` (the observers call `update()`), and read the status line (`explorer.summary` is its plain text).
# Look first: the strict net's second row matches its first at every layer; pick `eqreg` and the `head`
# layer and compare the four channels of a field with each other.

# %%
explorer.controls["model"].value = "strict"
explorer.controls["layer"].value = "body.0.conv"
explorer.controls["element"].value = 1
print(explorer.summary)

# %% [markdown]
# ## When does soft equivariance pay? The regime map
#
# The nets above are one regime: 14 training images, a small CNN with a strict twin, one test set. Whether
# EQ-Reg is worth it depends on the regime, so eqlab trains every arm on a grid of them (less data, another
# family of test images, data with a preferred orientation, a Transformer without a strict twin, equal
# wall-clock) with three seeds each, and compares eqreg with the *best* arm that is not soft in each cell,
# paired by seed (`scripts/regimes.py`, the page `docs/regimes.md`). The paragraph below is produced from the
# shipped cells by `eqlab.metrics.words.regime_answer`: it is the page's answer, word for word.

# %%
from eqlab.viz import regime_figure

regime_map = zoo.regimes()
print(words.regime_answer(regime_map["cells"]))
machines = "; ".join(f"{m['cpu']} ({m['runs']} runs)" for m in regime_map["machines"])
print(f"({regime_map['steps']} steps, seeds {regime_map['seeds']}; machines: {machines})")
regime_figure(regime_map)

# %% [markdown]
# ## Exercises
#
# Each solution is in the collapsed cell below its exercise (click it to expand). Look in the explorer
# first, write down your answer, then measure.

# %% [markdown]
# **Exercise 1.** *Where is the error with `P_g` equal to the error without it?* For every net and layer, the
# rotation panel compares `f(g·x)` with `rot_g f(x)` (without) and with `P_g rot_g f(x)` (with). Find the layers
# where the two errors agree (`eqlab.metrics.rotation_view` gives `with_shift` and `without`), and explain each
# case with the layer's representation and its orientation-carrying share (`orientation_summary`). Drive
# the explorer to one of them.

# %% tags=["solution"] jupyter={"source_hidden": true}
x = explorer.x
same = []
for arm, model in models.items():
    summaries = {row["layer"]: row for row in orientation_summary(equivariance_components(model, x, C4()))}
    for layer in summaries:  # the layers EQ-Reg reads, the explorer's layer menu
        view = rotation_view(model, x, C4(), 1, layer)
        if words.compare_errors(view.with_shift, view.without) == "about the same as":  # within SAME_RATIO
            s = summaries[layer]
            same.append((arm, layer, view.layer.rep.name, view.with_shift, view.without, s["oriented_share"],
                         words.layer_word(s["error"], None if s["blind"] is None else s["oriented_share"],
                                          s["oriented_error"])))
print(f"the two errors agree (within a factor {words.SAME_RATIO:g}) at {len(same)} layers:")
print(f"{'net':15} {'layer':12} {'representation':26} {'with P_g':>9} {'without':>9} {'oriented share':>15}  why")
for arm, layer, rep, with_shift, without, share, word in same:
    why = ("P_g is the identity (an image-valued layer)" if rep == "trivial" else
           f"{word}: {100 * share:.0f} % carries orientation, P_g has almost nothing to move"
           if share < words.BLIND_SHARE else
           f"{word}: the maps are unrelated with P_g and without it" if word == "not equivariant" else
           f"{word}: with and without P_g read about the same here")
    print(f"{arm:15} {layer:12} {rep:26} {with_shift:9.3f} {without:9.3f} {share:15.3f}  {why}")
blind = [(arm, layer) for arm, layer, rep, *_, word in same if word == "orientation-blind"]
if blind:
    explorer.controls["model"].value, explorer.controls["layer"].value = blind[0]
    print("an orientation-blind layer in the explorer:", explorer.summary)

# %% [markdown]
# **Exercise 2.** *Which arm's layer profile is flat, and why?* The bars under the panel give each net's
# error per layer. Measure the profiles (`equivariance_error` with `kind="shift"`, the mean over the quarter
# turns per layer) over the hidden layers (the regular ones; the output is an image and has its own
# scale), print their level and spread (largest minus smallest), and explain the flat ones from what each
# arm asks of its layers.

# %% tags=["solution"] jupyter={"source_hidden": true}
profiles = {}
for arm, model in models.items():
    rows = [r for r in equivariance_error(model, x, C4(), kinds=("shift",)) if r["rep"] == "regular"]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    profiles[arm] = [mean_layer_error([r for r in rows if r["layer"] == layer]) for layer in layers]
print(f"flat: a spread below {words.FLAT_SPREAD:g}; the level: exactly equivariant below {words.EXACT:g}, softly "
      f"below {words.EQUIVARIANT:g}, partly below {words.PARTLY:g}, else not equivariant (eqlab.metrics.words)")
for arm, values in profiles.items():
    level, spread = sum(values) / len(values), max(values) - min(values)
    print(f"{arm:15} level {level:.3f} ({words.degree(level)})  spread {spread:.3f} ({words.spread_word(spread)})")
    print(f"{'':15} " + " ".join(f"{v:.2f}" for v in values))
print("a level says how small the errors are, not how they got small: exercise 1 finds the orientation-blind layers")

# %% [markdown]
# **Exercise 3.** *Where is C8's floor?* A 45° turn resamples the image, so no net can read zero there. Build an
# `Explorer` with `group="C8"` (no need to display it) and read the strict net at 45° and at 90°; then find
# the floor with `error_vs_angle` (its `floor` is an isotropic blur measured the same way) and compare each
# net's predicted noise `x − f(x)` at 45° with it (a residual denoiser's output is mostly its input, whose
# part of the error is the interpolation's alone).

# %% tags=["solution"] jupyter={"source_hidden": true}
eighths = Explorer(models, images, group="C8", size=SIZE)
eighths.controls["model"].value = "strict"
for element in (1, 2):
    eighths.controls["element"].value = element
    print(eighths.summary)

from eqlab.models import PredictedNoise

c8 = C8()
mask = c8.mask(SIZE, SIZE)
print(f"{'net':15} {'noise error at 45°':>19} {'at 90°':>8} {'blur floor':>11} {'its own map, 45° and back':>26}")
ratio = {}
for arm, model in models.items():
    rows = {r["angle_deg"]: r for r in error_vs_angle(PredictedNoise(model), eighths.x, [45, 90])}
    with torch.no_grad():
        noise = PredictedNoise(model).eval()(eighths.x)
    own = relative_error(c8.rotate(c8.rotate(noise, 1), 7), noise, mask)  # interpolation alone, on this map
    ratio[arm] = rows[45.0]["value"] / own
    print(f"{arm:15} {rows[45.0]['value']:19.4f} {rows[90.0]['value']:8.4f} {rows[45.0]['floor']:11.4f} {own:26.4f}")
print(f"C8's floor is at its odd elements ({c8.describe(1)}, {c8.describe(3)}, ...); the quarter turns are exact.")
print("Its level depends on the map: the blur of the photo loses little to interpolation, a predicted-noise map,")
print("all fine detail, loses much more. Each net's 45° error over its own map's loss: "
      + ", ".join(f"{arm} {r:.1f}" for arm, r in ratio.items()))
if max(ratio.values()) < 1.2:
    print("every net reads at about its own map's interpolation loss: at 45°, on this content, the measurement")
    print("cannot tell the nets apart (the Lie derivative of notebook 1 asks the small-angle question instead)")
