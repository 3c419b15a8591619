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
#   sub-pixels of each 2×2 output block, and a quarter turn moves them around the block in the cycle
#   0 → 2 → 3 → 1: C4's regular representation with the channels in another order (under D4, the
#   permutation of a square's four corners), computed from `eqlab.groups` rather than drawn by hand;
# - proof by example: a perfectly equivariant upsampler shows a **non-zero** error when measured with
#   `regular()` in the conv's own channel order, and zero with `pixel_shuffle(2)`; EQ-Reg finds the
#   right one itself;
# - an SR training comparison of the four arms, against bicubic up-scaling.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MODE = "quick" if QUICK else DEVICE  # budgets are chosen by device: "cpu" fits a laptop, "cuda" runs longer
print(f"mode: {MODE} · torch {torch.__version__}")

# %%
import torch.nn as nn
import torch.nn.functional as F

from eqlab import C4, D4, EQReg, viz
from eqlab.data import BicubicDown, bicubic_up, center_crop, load_image
from eqlab.groups import permutation, pixel_shuffle, regular
from eqlab.isotypic import components
from eqlab.metrics import equivariance_error, mean_layer_error, output_equivariance_error, words
from eqlab.models import build
from eqlab.train import TrainConfig, fit

g = C4()
SIZE = {"quick": 64, "cpu": 128, "cuda": 192}[MODE]
clean = center_crop(load_image("chelsea", max_side=2 * SIZE), SIZE)[None]  # (1, 1, SIZE, SIZE)
low = BicubicDown(2)(clean)  # (1, 1, SIZE / 2, SIZE / 2)

# %% [markdown]
# ## Sub-pixels under a quarter turn
#
# `PixelShuffle(2)` turns channels `(0, 1, 2, 3)` of one pixel into the 2×2 block `[[0, 1], [2, 3]]`.
# Label the four sub-pixels with their channel numbers, shuffle, turn the block a quarter counter-clockwise
# (element 1 of C4), and read where each label went:

# %%
labels = torch.arange(4.0).reshape(1, 4, 1, 1)  # channel c holds the number c
block = F.pixel_shuffle(labels, 2)  # (1, 1, 2, 2)
turned = g.rotate(block, 1)
print("block:\n", block[0, 0].int().tolist(), "\nafter a quarter turn:\n", turned[0, 0].int().tolist())
moved_to = {int(c): position for position, c in enumerate(F.pixel_unshuffle(turned, 2).flatten().int().tolist())}


def cycles(goes_to: dict[int, int]) -> str:
    """The moves ``{c: where c goes}`` as cycles, each from its smallest channel: ``"0 → 2 → 3 → 1 → 0"``."""
    seen, parts = set(), []
    for start in sorted(goes_to):
        if start in seen or goes_to[start] == start:
            continue
        path, c = [start], goes_to[start]
        while c != start:
            path.append(c)
            c = goes_to[c]
        seen.update(path)
        parts.append(" → ".join(map(str, path + [start])))
    return ",  ".join(parts) or "identity"


print("sub-pixel c moves to position:", dict(sorted(moved_to.items())), "  cycle:", cycles(moved_to))

# %% [markdown]
# The representation holds the same permutation as a gather table: position `c` of `P_g y` reads channel
# `table[c]` of `y`. Inverting that table gives the moves again, and the library's table agrees with the
# labelled block. Read *without* inverting, the table runs the cycle the other way round; as moves, that
# is what the **clockwise** quarter turn (element 3) does:

# %%
table = pixel_shuffle(2).table(g, 1, 4)  # position c reads channel table[c]
from_table = {source: position for position, source in enumerate(table)}
print(f"pixel_shuffle(2), quarter turn: table {table} -> moves {cycles(from_table)}; "
      f"agrees with the block: {from_table == moved_to}")
backwards = dict(enumerate(table))  # position c -> the channel it reads
clockwise = {source: position for position, source in enumerate(pixel_shuffle(2).table(g, 3, 4))}
print(f"the table read forwards: {cycles(backwards)} = the moves of the clockwise turn: {cycles(clockwise)}")
regular_moves = {source: position for position, source in enumerate(regular().table(g, 1, 4))}
print(f"the regular representation, for comparison: {cycles(regular_moves)}")

# %% [markdown]
# So under a counter-clockwise quarter turn the four sub-pixels go round in one 4-cycle, as the four
# orientations of a regular field do. It *is* C4's regular representation, with the channels in another
# order: number the channels along the cycle (0, 2, 3, 1) and the table becomes the regular one, for every
# element. What differs from `regular()` is only the channel order, and that is enough to make a measurement
# wrong (below).

# %%
order = [0, 2, 3, 1]  # the cycle of the quarter turn, starting at channel 0
for k in g.elements():
    shuffle_table = pixel_shuffle(2).table(g, k, 4)
    relabelled = [order.index(shuffle_table[order[c]]) for c in range(4)]  # the same table in the new numbering
    assert relabelled == regular().table(g, k, 4), (k, relabelled)
print("in the channel order (0, 2, 3, 1), pixel_shuffle(2) under C4 is regular(): checked for every element")
d4 = D4()
corners = permutation([pixel_shuffle(2).table(d4, e, 4) for e in d4.elements()])
print(f"under D4 the 8 elements permute 4 sub-pixels: the corners of the square, not D4's regular "
      f"representation ({regular().field_size(d4, 8)} channels per field)")
print("  its isotypic components under D4:", [(c.name, c.dim) for c in components(corners, d4, 4)],
      "\n  those of D4's regular field:     ", [(c.name, c.dim) for c in components(regular(), d4, 8)])

# %% [markdown]
# The diagram shows every element (each cell names the channel that lands there; the right margin gives the
# moves in cycle notation):

# %%
viz.channel_shift_diagram(g, ["regular", "pixel_shuffle(2)"], channels=4)


# %% [markdown]
# ## A correctly equivariant upsampler, measured two ways
#
# We build an upsampler that is exactly equivariant: bilinear ×2 up-scaling written as a 3×3 convolution
# to the four sub-pixels (each sub-pixel weighs its pixel by 3/4 and the neighbours on its side by 1/4 per
# axis; the border is padded by repeating it, as `F.interpolate` does), then `PixelShuffle`. A quarter
# turn of the input turns each sub-pixel's kernel into another sub-pixel's, so the output is exact, and its
# `upsampler` layer is exact *in the right representation only*.

# %%
class SubPixelBilinear(nn.Module):
    """Bilinear x2 in the sub-pixel layout: (B, 1, H, W) -> upsampler (B, 4, H, W) -> (B, 1, 2H, 2W)."""

    def __init__(self):
        super().__init__()
        self.upsampler = nn.Conv2d(1, 4, kernel_size=3, padding=1, padding_mode="replicate", bias=False)
        self.shuffle = nn.PixelShuffle(2)
        taps = {0: torch.tensor([0.25, 0.75, 0.0]), 1: torch.tensor([0.0, 0.75, 0.25])}  # before / after
        with torch.no_grad():
            for c in range(4):  # sub-pixel c sits at row c // 2, column c % 2 of its block
                self.upsampler.weight[c, 0] = torch.outer(taps[c // 2], taps[c % 2])

    def forward(self, x):
        return self.shuffle(self.upsampler(x))


up = SubPixelBilinear()
with torch.no_grad():
    same = (up(low) - F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)).abs().max()
print(f"max |up(x) - F.interpolate(x, bilinear)| = {same:.1e}")
print(f"output equivariance error: {max(output_equivariance_error(up, low, g).values()):.1e}")
pixels = torch.rand(1, 1, SIZE // 2, SIZE // 2, generator=torch.Generator().manual_seed(0))  # no smoothness
for image_name, image in [("photo", low), ("random pixels", pixels)]:
    for name, rep in [("regular", regular()), ("pixel_shuffle(2)", pixel_shuffle(2))]:
        rows = equivariance_error(up, image, g, reps={"upsampler": rep}, kinds=("shift",))
        per_element = ", ".join(f"{g.describe(r['element'])}: {r['value']:.3f}" for r in rows)
        print(f"{image_name:13} upsampler measured with {name:17} mean {mean_layer_error(rows):.2e}   "
              f"({per_element})")

# %%
viz.rotation_panel(up, low, g, element=1, layer="upsampler", rep=regular())

# %%
viz.rotation_panel(up, low, g, element=1, layer="upsampler", rep=pixel_shuffle(2))

# %% [markdown]
# Measured with `regular()` in the conv's own channel order, every rotation reports an error, although the
# layer is exactly equivariant: the cyclic shift 0 → 1 → 2 → 3 puts each sub-pixel where the rotation does
# not (it goes 0 → 2 → 3 → 1). On the photo the
# error is modest because the four sub-pixels of a smooth image are nearly equal, so any permutation of them
# is nearly right; on random pixels, where neighbours differ, the same wrong permutation costs more (compare
# the two lines). Regularizing this layer with the wrong representation would push a correct net *away*
# from equivariance. EQ-Reg does not need to be told: it probes the model, sees that the conv feeds a
# `PixelShuffle` and produces the image, and gives it `pixel_shuffle(2)`:

# %%
print(EQReg(up, g).report())
print()
print(EQReg(build("srnet", features=16, depth=4), g).report())

# %% [markdown]
# ## Training: the four arms on equal budgets
#
# The EQ-Reg weight is fixed (`target_share=None`) at the default. The bars show each run and an estimate of
# the time left (about a minute and a half in the default mode on a busy 2-core CPU).

# %%
from tqdm.auto import tqdm

budget = {"quick": dict(features=16, depth=4, steps=150, patch_size=32, val_size=48, val_every=0),
          "cpu": dict(features=16, depth=6, steps=400, patch_size=40, val_size=96, val_every=0),
          "cuda": dict(features=32, depth=8, steps=2000, patch_size=64, val_size=128, val_every=250)}[MODE]
base = TrainConfig.of(task="sr", scale=2, batch_size=8, share_every=0, target_share=None, device="auto", **budget)
results = {arm: fit(base.replace(arm=arm), progress=True)
           for arm in tqdm(("plain", "augment", "eqreg", "strict"), desc="arms")}
first = next(iter(results.values())).metrics
print(f"EQ-Reg weight λ = {base.weight:g}; {base.steps} steps")
print(f"{'bicubic':8} PSNR {first['baseline_psnr']:6.2f} dB  SSIM {first['baseline_ssim']:.3f}")
for arm, r in results.items():
    m = r.metrics
    print(f"{arm:8} PSNR {m['psnr']:6.2f} dB  SSIM {m['ssim']:.3f}  output error {m['output_error']:.3f}  "
          f"layer error {m['layer_error']:.3f}  ({r.wall_time_s:.0f} s)")
for arm, r in results.items():
    said = words.run_words(r.metrics["psnr"], first["baseline_psnr"], input_name="bicubic")
    print(f"{arm:8} {said}")
    if words.run_outcome(r.metrics["psnr"], first["baseline_psnr"]) != "learned":
        print(f"{'':8} the net adds (almost) nothing to its bicubic skip, which is exactly equivariant: a short "
              "run, or a penalty that the trivial answer meets (notebook 3)")

# %% [markdown]
# The scores above are means over the test images; the figure shows one crop of one image, with its own
# scores in the titles.

# %%
with torch.no_grad():
    outputs = {"bicubic": bicubic_up(low, 2), **{arm: r.model.cpu()(low) for arm, r in results.items()}}
viz.restoration_comparison(clean, low, outputs, crop_border=2)

# %%
viz.layer_error_bars({arm: equivariance_error(r.model, low, g, kinds=("shift", "none")) for arm, r in results.items()})

# %% [markdown]
# ## Which equivariance? Where the net starts matters
#
# A small layer error can be orientation blindness (notebook 4): the `split` norm (the default) prevents
# that, but on SR it keeps orientation without making it turn with the input unless it pulls hard. The zoo's
# `sr/eqreg` therefore does not start from random convs: `weight_init="equivariant"` projects every conv of
# the plain net onto the C4-equivariant ones (`eqlab.models.init`), so the net begins as a group CNN with
# features that carry orientation, and the penalty, held here at a gradient share of 0.3 (the zoo's SR
# setting), decides how far it may leave. Both starts, side by side, by `orientation_summary`: the share of
# the regular layers' energy that carries orientation, and that part's error.

# %%
from eqlab.metrics import equivariance_components, orientation_summary

starts = {}
for start in ("kaiming", "equivariant"):
    r = fit(base.replace(arm="eqreg", target_share=0.3, share_every=10, weight_init=start), progress=True)
    layers = [s for s in orientation_summary(equivariance_components(r.model.cpu().eval(), low, g))
              if s["blind"] is not None]  # the layers with fields (the upsampler's sub-pixel blocks too)
    share = sum(s["oriented_share"] for s in layers) / len(layers)
    error = sum(s["oriented_error"] for s in layers) / len(layers)
    starts[start] = dict(psnr=r.metrics["psnr"], bicubic=r.metrics["baseline_psnr"], share=share, error=error)
    print(f"from {start:12} PSNR {r.metrics['psnr']:.2f} dB  oriented share {share:.2f}  oriented error {error:.3f}")
for start, m in starts.items():
    print(f"from {start:12} " + words.run_words(m["psnr"], m["bicubic"], input_name="bicubic"))
print("At the zoo's budget (6000 steps, three seeds; docs/orientation.md): from Kaiming the oriented error ends at "
      "0.36, from the equivariant start at 0.09, both within 0.1 dB of augment's PSNR. A short run shows where each "
      "start sets out from; the lines above say whether each has learned to restore yet at this budget (a net held "
      "near a group CNN of a quarter of its free parameters can take longer to leave its bicubic skip).")

# %% [markdown]
# **Take-aways.** A representation is part of the question "is this layer equivariant?". The wrong one
# reports a false error for a correct layer; used in the penalty, it would fight a correct solution.
# Under a counter-clockwise quarter turn the sub-pixels of `PixelShuffle(2)` move as printed at the top
# of this notebook; the eqlab code derives the table from `pixel_shuffle` itself, so it is right for every
# element and factor.

# %% [markdown]
# ## Exercises
#
# Each solution is in the collapsed cell below its exercise (click it to expand). Try first.

# %% [markdown]
# **Exercise 1.** Where do the four sub-pixels go under the half turn and under the D4 reflection "flip, rot
# 0°" (element 4)? Work it out on the 2×2 block by hand, then check with `pixel_shuffle(2).table`.

# %% tags=["solution"] jupyter={"source_hidden": true}
for group, element in [(g, 2), (D4(), 4)]:
    moves = {source: position for position, source in enumerate(pixel_shuffle(2).table(group, element, 4))}
    print(f"{group.describe(element):>14}: sub-pixel -> position {dict(sorted(moves.items()))}: {cycles(moves)}")
    print("   block after it:", group.rotate(block, element)[0, 0].int().tolist())

# %% [markdown]
# **Exercise 2.** `PixelShuffle(3)` holds 3×3 blocks. Which of its nine sub-pixels stays put under a quarter
# turn, and how do the others go round? Print the cycles of `pixel_shuffle(3).table(C4(), 1, 9)`.

# %% tags=["solution"] jupyter={"source_hidden": true}
moves = {source: position for position, source in enumerate(pixel_shuffle(3).table(g, 1, 9))}
print("fixed:", [c for c, p in moves.items() if c == p], "  cycles:", cycles(moves))
print("block [[0 1 2] [3 4 5] [6 7 8]] after a quarter turn:",
      g.rotate(F.pixel_shuffle(torch.arange(9.0).reshape(1, 9, 1, 1), 3), 1)[0, 0].int().tolist())

# %% [markdown]
# **Exercise 3.** What if EQ-Reg used the wrong representation for the SR net's `upsampler`? Train the
# `eqreg` arm twice on the same budget and weight as above (the default; at 1e-3 both nets returned their
# bicubic skip in our runs, and the solution says if that happens in yours): once as EQ-Reg chooses,
# once with `EQRegArm(reps={"upsampler": regular()})`. Compare the output error, and the upsampler's error
# measured in both representations.

# %% tags=["solution"] jupyter={"source_hidden": true}
from eqlab.arms import EQRegArm

output_error = {}
for name, reps in [("pixel_shuffle(2) (automatic)", None), ("regular (wrong)", {"upsampler": regular()})]:
    r = fit(base.replace(arm="eqreg"), arm=EQRegArm(weight=base.weight, share_every=0, reps=reps), progress=True)
    output_error[name] = r.metrics["output_error"]
    if words.run_outcome(r.metrics["psnr"], r.metrics["baseline_psnr"]) != "learned":
        print(f"{name}: " + words.run_words(r.metrics["psnr"], r.metrics["baseline_psnr"], input_name="bicubic")
              + "; it returns (nearly) the bicubic image, its skip, exactly equivariant and useless: compare at a "
              "smaller weight")
    upsampler = {rep_name: mean_layer_error(equivariance_error(r.model, low, g, layers=["upsampler"],
                                                               reps={"upsampler": rep}, kinds=("shift",)))
                 for rep_name, rep in [("pixel_shuffle(2)", pixel_shuffle(2)), ("regular", regular())]}
    print(f"{name:28} PSNR {r.metrics['psnr']:.2f} dB  output error {r.metrics['output_error']:.4f}  upsampler: "
          + ", ".join(f"{k} {v:.3f}" for k, v in upsampler.items()))
right, wrong = output_error.values()
pulled = upsampler["regular"] < upsampler["pixel_shuffle(2)"]  # the wrong run's upsampler, measured both ways
print(("with the wrong representation the upsampler became closer to equivariant in the wrong sense (its error in "
       "`regular` is the smaller)" if pulled else "with the wrong representation the upsampler did not become closer "
       "to the wrong permutation at this weight (its error in `regular` is not the smaller)")
      + "; the output is " + (f"less equivariant with it ({wrong:.4f} vs {right:.4f})" if wrong > right else
                              f"not less equivariant with it ({wrong:.4f} vs {right:.4f})")
      + ". One short run: try other seeds and weights before concluding")

