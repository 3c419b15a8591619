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
# (0 = identical; two unrelated maps of equal energy give about √2, computed below):
#
# - identity: `e·x = x`; inverse: `g⁻¹·(g·x) = x`;
# - composition: `a·(b·x) = (ab)·x` for every pair;
# - associativity and closure of the table itself.
#
# For C8 the comparison runs inside the disk `group.mask` (the corners are lost by a 45° turn).

# %%
noise_a, noise_b = torch.randn(2, 1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
print(f"relative error of two independent noise images: {relative_error(noise_a, noise_b):.3f} "
      f"(√2 = {2 ** 0.5:.3f})")


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
# dashed line is the *floor*: the same measurement for an isotropic Gaussian blur, an operation that is
# rotation-equivariant before the pixels are sampled, so whatever error it shows is interpolation alone.
# An ordinary CNN is exact nowhere except at 0°.
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
def mean_between(rows, key="value"):
    """Mean of ``key`` over the angles that are not multiples of 90°."""
    values = [r[key] for r in rows if r["angle_deg"] % 90]
    return sum(values) / len(values)


between = {}
for name, rows in curves.items():
    exact = max(r["value"] for r in rows if r["angle_deg"] % 90 == 0)
    between[name] = mean_between(rows)
    print(f"{name:7} worst error at multiples of 90°: {exact:.2e}   mean between them: {between[name]:.2e}")
print(f"floor   (an isotropic blur)                        mean between them: {mean_between(rows, 'floor'):.2e}")
print(f"between the multiples of 90° the strict net's error is {between['strict'] / between['plain']:.2f} times "
      "the plain net's")
viz.error_vs_angle_plot(curves)

# %% [markdown]
# Between the ringed points the strict net has no advantage of principle over the plain one (the printed
# ratio says how they compare on this image): nothing in its construction constrains it at 45°, and
# both lie above the floor. Exact equivariance to C4 says nothing about other angles.
#
# **Take-aways.** C2, C4 and D4 act exactly: their laws hold to the last bit, so an exactly equivariant
# net can reach zero error. C8 needs interpolation; its error floor is real and any C8 experiment must
# report it. This is why EQ-Reg in eqlab defaults to C4.

# %% [markdown]
# ## Exercises
#
# Each solution is in the collapsed cell below its exercise (click it to expand). Try first.

# %% [markdown]
# **Exercise 1.** Every reflection of D4 is its own inverse, and a reflection turns the rotation the other
# way: `flip · rot 90° · flip = rot 270°`. Check both with `D4().compose` and `D4().inverse`, then on the image
# with `D4().rotate` (the errors must be exactly zero).

# %% tags=["solution"] jupyter={"source_hidden": true}
d4 = D4()
reflections = [e for e in d4.elements() if d4.is_reflection(e)]
print("reflections:", [d4.describe(e) for e in reflections])
print("each is its own inverse:", all(d4.inverse(e) == e for e in reflections))
flip, quarter = 4, 1
conjugate = d4.compose(flip, d4.compose(quarter, flip))
print("flip · rot 90° · flip =", d4.describe(conjugate))
lhs = d4.rotate(d4.rotate(d4.rotate(x, flip), quarter), flip)  # apply flip, then rot 90°, then flip
print("on the image, max |difference| from rot 270°:", (lhs - d4.rotate(x, 3)).abs().max().item())

# %% [markdown]
# **Exercise 2.** Is the interpolation error of a 45° turn a property of the rotation or of the image? Turn
# `x` by 45° and back (`C8().rotate` with elements 1 and 7) and measure the relative error inside the disk,
# for the photograph, for a blurred copy (`eqlab.data.GaussianBlur(2.0)`) and for pixel noise.

# %% tags=["solution"] jupyter={"source_hidden": true}
from eqlab.data import GaussianBlur

candidates = {"photograph": x, "blurred photograph": GaussianBlur(2.0)(x),
              "pixel noise": torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))}
for name, image in candidates.items():
    there_and_back = c8.rotate(c8.rotate(image, 1), 7)
    print(f"{name:19} error of 45° there and back: {relative_error(there_and_back, image, mask):.4f}")
print("bilinear resampling is a low-pass filter: the finer the detail, the more it loses")

# %% [markdown]
# **Exercise 3.** C2 (the half turn) maps any rectangle onto itself, a quarter turn does not. Build a
# non-square batch and pair it with `C2().pair` and with `C4().pair(..., element=1)`: what happens?

# %% tags=["solution"] jupyter={"source_hidden": true}
wide = torch.rand(2, 1, 16, 24)
xb, _, element = C2().pair(wide, element=1)
print("C2 pairs a 16x24 batch:", tuple(xb.shape), "with", C2().describe(element))
try:
    C4().pair(wide, element=1)
except ValueError as err:
    print("C4, a quarter turn: ValueError:", err)
