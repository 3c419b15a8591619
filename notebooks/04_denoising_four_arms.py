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
# # 4 · Denoising: four arms on equal budgets
#
# **What you will learn**
#
# - how to train the four arms with `eqlab.train.fit` on equal budgets (same steps, same patches and
#   noise, same rotations);
# - how to read the result table: PSNR/SSIM, PSNR on rotated inputs, output and layer equivariance;
# - per-layer errors across arms (`viz.layer_error_bars`), the outputs and their error maps
#   (`viz.restoration_comparison`) and the training curves.
#
# | arm | batch of one step | loss |
# |---|---|---|
# | `plain` | `x`: B patches, no rotation | MSE |
# | `augment` | `cat([x, g·x])`, one random `g ≠ e` | MSE (EQ-Reg weight 0) |
# | `eqreg` | the same paired batch | MSE + λ R |
# | `strict` | the same paired batch, on the P4 twin (about the same parameter count, printed below) | MSE |
#
# The EQ-Reg weight λ is set above eqlab's default (both are printed below), and higher in quick mode,
# so that the regularizer's effect on the layers shows within a short run (notebook 6 sweeps λ).

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
from eqlab import C4, viz
from eqlab.data import center_crop, load_image
from eqlab.metrics import equivariance_error
from eqlab.regularizer import DEFAULT_WEIGHT
from eqlab.tasks import get_task
from eqlab.train import ARMS, TrainConfig, fit

base = TrainConfig.of(
    task="denoise", sigma=25, weight=1e-1 if QUICK else 1e-3,  # above the default: see below
    features=16 if QUICK else 32, depth=5 if QUICK else 8,
    steps=150 if QUICK else 2000, batch_size=8, patch_size=32 if QUICK else 48,
    val_size=48 if QUICK else 128, val_every=0 if QUICK else 250, share_every=20 if QUICK else 100,
    log_every=10, device="auto",
)
print(f"EQ-Reg weight λ = {base.weight:g} ({base.weight / DEFAULT_WEIGHT:g} x the default {DEFAULT_WEIGHT:g})")
print(", ".join(f"{k}={v}" for k, v in base.flat().items() if k in (
    "task", "sigma", "features", "depth", "steps", "batch_size", "patch_size", "lr", "schedule", "seed")))

# %% [markdown]
# `fit` reports two times: `history[-1]["train_s"]`, the seconds spent in the training steps themselves
# (sampling, forward, backward, optimizer), and `wall_time_s`, everything `fit` did, including building the
# net and scoring it on the test images before and after training (with its equivariance errors). The
# first compares the arms' training cost; the second is what you waited.

# %%
results = {}
for arm in ARMS:
    results[arm] = fit(base.replace(arm=arm), progress=False)
    r = results[arm]
    params = sum(p.numel() for p in r.model.parameters())
    print(f"{arm:8} {type(r.model).__name__:8} {params:6,d} parameters   steps {r.history[-1]['train_s']:5.1f} s "
          f"of {r.wall_time_s:5.1f} s in fit   PSNR {r.metrics['psnr']:.2f} dB")

# %% [markdown]
# ## The table
#
# `psnr_rot90`: the test input turned a quarter turn, restored, turned back. `output_error` and
# `layer_error`: relative equivariance errors of the output and of the regularized layers (0 =
# equivariant, √2 ≈ unrelated). `steps s` and `fit s`: the two times above.

# %%
columns = ["psnr", "ssim", "psnr_rot90", "output_error", "layer_error"]
print(f"{'arm':8}" + "".join(f"{c:>13}" for c in columns) + f"{'steps s':>9}{'fit s':>7}")
first = next(iter(results.values())).metrics
print(f"{'input':8}{first['baseline_psnr']:13.2f}{first['baseline_ssim']:13.3f}")
for arm, result in results.items():
    m = result.metrics
    print(f"{arm:8}" + "".join(f"{m[c]:13.3f}" for c in columns)
          + f"{result.history[-1]['train_s']:9.1f}{result.wall_time_s:7.1f}")

# %% [markdown]
# ## Which layers are equivariant?
#
# The same test crop through every trained net. `strict` is exact by construction; `eqreg` is pushed
# towards it; `augment` sees the same rotated data without being asked.

# %%
task = get_task("denoise", sigma=25)
clean = center_crop(load_image("camera", max_side=256), 64 if QUICK else 128)[None]
noisy = task.degrade(clean, generator=torch.Generator().manual_seed(0))
layer_rows = {arm: equivariance_error(r.model.cpu(), noisy, C4()) for arm, r in results.items()}
viz.layer_error_bars(layer_rows)

# %%
with torch.no_grad():
    outputs = {arm: r.model(noisy) for arm, r in results.items()}
viz.restoration_comparison(clean, noisy, outputs)

# %%
viz.training_curves({arm: r.history for arm, r in results.items()})

# %% [markdown]
# **Reading the results.** Compare `eqreg` with `augment`, not with `plain`: both saw the same rotated
# images, so their difference is the regularizer alone. In quick mode the runs are far too short to
# rank the arms; run the notebook without `EQLAB_QUICK` (minutes on a GPU) for numbers worth quoting,
# and repeat with other seeds (`TrainConfig.seed`) before believing a gap of a tenth of a dB.

# %% [markdown]
# ## Exercises
#
# Each solution is in the collapsed cell below its exercise (click it to expand). Try first.

# %% [markdown]
# **Exercise 1.** Which arms lose quality when the test input arrives turned by a quarter turn? Print
# `psnr_rot90 − psnr` for each arm from `results`, and say why the strict arm's difference is what it is.

# %% tags=["solution"] jupyter={"source_hidden": true}
for arm, r in results.items():
    print(f"{arm:8} psnr_rot90 - psnr = {r.metrics['psnr_rot90'] - r.metrics['psnr']:+.3f} dB")
print("strict: its output is exactly equivariant, so turning the input turns the output and nothing else")

# %% [markdown]
# **Exercise 2.** Replace the fixed weight by a target gradient share: train `eqreg` with
# `target_share=0.1` (the same budget) and compare its layer error and PSNR with the fixed-λ run above.

# %% tags=["solution"] jupyter={"source_hidden": true}
shared = fit(base.replace(arm="eqreg", target_share=0.1), progress=False)
for name, r in {"fixed λ": results["eqreg"], "target share 0.1": shared}.items():
    lam = [h["weight"] for h in r.history if "weight" in h]
    print(f"{name:17} PSNR {r.metrics['psnr']:.2f} dB   layer error {r.metrics['layer_error']:.3f}   "
          f"λ at the end {lam[-1]:.3g}")

# %% [markdown]
# **Exercise 3.** Is the gap between `augment` and `eqreg` a property of the arms or of one seed? Train both
# again with `seed=1` and print the two gaps in PSNR and in layer error side by side.

# %% tags=["solution"] jupyter={"source_hidden": true}
again = {arm: fit(base.replace(arm=arm, seed=1), progress=False).metrics for arm in ("augment", "eqreg")}
for seed, ms in {0: {arm: results[arm].metrics for arm in ("augment", "eqreg")}, 1: again}.items():
    print(f"seed {seed}: eqreg - augment = {ms['eqreg']['psnr'] - ms['augment']['psnr']:+.2f} dB PSNR, "
          f"{ms['eqreg']['layer_error'] - ms['augment']['layer_error']:+.3f} layer error")
