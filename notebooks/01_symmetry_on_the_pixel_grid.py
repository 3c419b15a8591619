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
# # 1 · Symmetry on the pixel grid
#
# **What you will learn**
#
# - how the groups C2, C4, D4 and C8 act on an image in eqlab, and the convention (counter-clockwise
#   as displayed, quarter turns `k`, D4 = "mirror, then rotate");
# - why quarter turns are *exact* on a pixel grid (they only move pixels: `torch.rot90`) and 45° turns
#   are not (they interpolate, and lose the corners);
# - the group laws (identity, inverses, composition, associativity), checked live on a real image;
# - the *interpolation floor* of C8: an error that no network can remove, shown rather than hidden.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
from eqlab import C2, C4, C8, D4, viz
from eqlab.data import center_crop, load_image
from eqlab.metrics import error_vs_angle, relative_error
from eqlab.models import build

SIZE = 64 if QUICK else 192
x = center_crop(load_image("camera", max_side=2 * SIZE), SIZE)[None]  # (1, 1, SIZE, SIZE) in [0, 1]
x.shape

# %% [markdown]
# ## Quarter turns: C4
#
# An element of C4 is an integer `k` (`0` is the identity); it rotates by `k` quarter turns,
# counter-clockwise as displayed. The orbit of `x` is the set of all `g·x`:

# %%
viz.group_orbit(x, C4())

# %% [markdown]
# A quarter turn maps every pixel centre onto another pixel centre, so nothing is resampled:
# `C4().rotate` *is* `torch.rot90`, bit for bit, and the pixel values are only moved around.

# %%
g = C4()
for k in g.elements():
    diff = (g.rotate(x, k) - torch.rot90(x, k, dims=(-2, -1))).abs().max().item()
    print(f"{g.describe(k):>9}: max |C4().rotate(x, k) - torch.rot90(x, k)| = {diff}")
same_values = torch.equal(g.rotate(x, 1).flatten().sort().values, x.flatten().sort().values)
print("a quarter turn only permutes pixels:", same_values)

# %% [markdown]
# ## Reflections: D4, and the multiplication table
#
# D4 adds the mirror images: element `k + 4` mirrors left-right, then rotates by `k` quarter turns.
# `compose(a, b)` is "apply `b`, then `a`". The table is a Latin square (each element once per row
# and column): closure and inverses at a glance. It is **not symmetric**: rotating then mirroring is
# not mirroring then rotating.

# %%
viz.group_orbit(x, D4())

# %%
d4 = D4()
print("rot 90° after flip:", d4.describe(d4.compose(1, 4)), "| flip after rot 90°:", d4.describe(d4.compose(4, 1)))
viz.cayley_table(d4)


# %% [markdown]
# ## The group laws, checked on the image
#
# For each group we act on `x` and measure, with the relative error of `eqlab.metrics`
# (0 = identical, about 1.4 = unrelated):
#
# - identity: `e·x = x`; inverse: `g⁻¹·(g·x) = x`;
# - composition: `a·(b·x) = (ab)·x` for every pair;
# - associativity and closure of the table itself.
#
# For C8 the comparison runs inside the disk `group.mask` (the corners are lost by a 45° turn).

# %%
def law_errors(group, x):
    mask = group.mask(x.shape[-2], x.shape[-1])
    err = lambda a, b: relative_error(a, b, mask)  # noqa: E731
    elements = group.elements()
    return dict(
        identity=err(group.rotate(x, group.identity), x),
        inverse=max(err(group.rotate(group.rotate(x, a), group.inverse(a)), x) for a in elements),
        composition=max(err(group.rotate(group.rotate(x, b), a), group.rotate(x, group.compose(a, b)))
                        for a in elements for b in elements),
        associative=all(group.compose(group.compose(a, b), c) == group.compose(a, group.compose(b, c))
                        for a in elements for b in elements for c in elements),
        closed=all(group.compose(a, b) in elements for a in elements for b in elements),
    )

print(f"{'group':6} {'exact':6} {'identity':>9} {'inverse':>9} {'composition':>12}  associative  closed")
for group in (C2(), C4(), D4(), C8()):
    e = law_errors(group, x)
    print(f"{group.name:6} {str(group.exact):6} {e['identity']:9.2g} {e['inverse']:9.2g} {e['composition']:12.2g}"
          f"  {str(e['associative']):11}  {e['closed']}")

# %% [markdown]
# The table of C8 is a perfectly good group (associative, closed), but its **action** on pixels is
# not: turning by 45° twice is not the same image as turning by 90° once, because every 45° turn
# resamples the image bilinearly. The dashed disk is where the comparison is meaningful:

# %%
viz.group_orbit(x, C8())

# %% [markdown]
# ## The interpolation floor
#
# Turn by 45° eight times: a full circle, and yet not the original image. Every step blurs a little.

# %%
c8 = C8()
mask = c8.mask(SIZE, SIZE)
y = x
print(" steps  angle   error vs. the same angle in one step")
for n in range(1, 9):
    y = c8.rotate(y, 1)  # one more interpolated 45° step
    print(f"{n:6} {45 * n:5}°   {relative_error(y, c8.rotate(x, n % 8), mask):.4f}")
viz.image_grid([x, y * mask, (y - x).abs() * mask], ["x", "8 × 45° (inside the disk)", "|difference|"],
               suptitle="a full turn in 45° steps is not the identity")


# %% [markdown]
# ## What this means for a network
#
# `eqlab.metrics.error_vs_angle` measures `‖f(g x) − g f(x)‖` for any angle. A strictly
# C4-equivariant net (a P4 group CNN, notebook 2) is exact at 0°, 90°, 180°, 270°: ringed points at 0.
# Between them, the comparison itself needs interpolation, and even that net shows an error. The
# dashed line is the interpolation error of the input alone (rotate it there and back). An ordinary
# CNN is exact nowhere except at 0°.
#
# Our denoisers are residual, `f(x) = x − n(x)`: the `x` part is trivially equivariant and would
# drown the rest, so we measure the predicted noise `n(x)`, through a two-line wrapper.

# %%
class PredictedNoise(torch.nn.Module):
    """``n(x) = x - f(x)``: the part of a residual denoiser that is not the identity."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return x - self.net(x)


torch.manual_seed(0)
nets = {"strict": PredictedNoise(build("dncnn_p4", fields=4, depth=5)),
        "plain": PredictedNoise(build("dncnn", features=8, depth=5))}
angles = range(0, 361, 15 if QUICK else 5)
curves = {name: error_vs_angle(net, x, angles) for name, net in nets.items()}
for name, rows in curves.items():
    exact = max(r["value"] for r in rows if r["angle_deg"] % 90 == 0)
    other = max(r["value"] for r in rows if r["angle_deg"] % 90 != 0)
    print(f"{name:7} worst error at multiples of 90°: {exact:.2e}   elsewhere: {other:.2e}")
viz.error_vs_angle_plot(curves)

# %% [markdown]
# Between the ringed points the strict net is no better than the plain one, here even worse: nothing in
# its construction constrains it at 45°. Exact equivariance to C4 says nothing about other angles.
#
# **Take-aways.** C2, C4 and D4 act exactly: their laws hold to the last bit, so an exactly equivariant
# net can reach zero error. C8 needs interpolation; its error floor is real and any C8 experiment must
# report it. This is why EQ-Reg in eqlab defaults to C4.
