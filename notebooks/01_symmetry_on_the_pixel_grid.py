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
# - what a group *action* on an image is, `(g·f)(p) = f(g⁻¹p)`, and what *equivariant* means,
#   `Φ(g·f) = g·Φ(f)`;
# - how the groups C2, C4, D4 and C8 act on an image in eqlab, and the convention (counter-clockwise
#   as displayed, quarter turns `k`, D4 = "mirror, then rotate");
# - why quarter turns are *exact* on a pixel grid (they only move pixels: `torch.rot90`) and 45° turns
#   are not (they interpolate, and lose the corners);
# - the group laws (identity, inverses, composition, associativity), checked live on a real image;
# - the *interpolation floor* of C8: an error that no network can remove, shown rather than hidden;
# - the words the kit puts beside an equivariance error (exactly, softly, partly equivariant,
#   orientation-blind, not equivariant) and their thresholds, defined once (`eqlab.metrics.words`);
# - equivariance to *small* rotations, measured by a Lie derivative, and why a net that is exact at
#   90° need not be equivariant at 1°.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MODE = "quick" if QUICK else DEVICE  # budgets are chosen by device: "cpu" fits a laptop, "cuda" runs longer
print(f"mode: {MODE} · torch {torch.__version__}")

# %%
from eqlab import C2, C4, C8, D4, viz
from eqlab.data import center_crop, load_image
from eqlab.metrics import centred, error_vs_angle, lie_derivative, relative_error
from eqlab.models import build

SIZE = {"quick": 64, "cpu": 192, "cuda": 256}[MODE]
x = center_crop(load_image("camera", max_side=2 * SIZE), SIZE)[None]  # (1, 1, SIZE, SIZE) in [0, 1]
x.shape

# %% [markdown]
# ## Definitions: a group acting on images
#
# A **group** `G` is a set of transformations with a composition `gh` ("apply `h`, then `g`"), an
# identity `e` and an inverse `g⁻¹` for each element; composition is associative. Here the elements are
# rotations (and, for D4, mirror images) of the plane about the image centre.
#
# An image is a function `f` from positions `p` to values. A group element **acts** on it by moving its
# values: `(g·f)(p) = f(g⁻¹p)`. The value that lands at `p` is the one that sat at `g⁻¹p`; the inverse is
# what makes the action compose the right way round, `g·(h·f) = (gh)·f`.
#
# A map `Φ` from images to images (a filter, a denoiser) is **equivariant** to `G` when turning the input
# turns the output, `Φ(g·f) = g·Φ(f)` for every `g`, and **invariant** when `Φ(g·f) = Φ(f)`. A net's
# hidden layers have many channels, and there `g` may also permute the channels (notebook 2).
#
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
# (g·f)(p) = f(g⁻¹p) at one pixel: with row 0 at the top, the quarter turn sends (row, col) to (n-1-col, row)
row, col = 10, 40
p_inverse = (col, SIZE - 1 - row)  # g⁻¹p: where the value now at (row, col) came from
print(f"(g·f) at {(row, col)} = {g.rotate(x, 1)[0, 0, row, col].item():.4f};  f at g⁻¹p = {p_inverse}: "
      f"{x[0, 0, p_inverse[0], p_inverse[1]].item():.4f}")

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
# For each group we act on `x` and measure with the relative error of `eqlab.metrics`,
# `‖a − b‖ / √((‖a‖² + ‖b‖²) / 2)`: 0 = identical, 2 = opposite signs. What two *unrelated* maps read
# depends on their means: zero-mean maps are nearly orthogonal and read about √2, while positive maps
# (two photographs, or features after a ReLU) share their mean and read less. The layer errors of
# `eqlab.metrics` therefore centre each channel first (`centred`), so that √2 means "unrelated" there.
# Computed:
#
# - identity: `e·x = x`; inverse: `g⁻¹·(g·x) = x`;
# - composition: `a·(b·x) = (ab)·x` for every pair;
# - associativity and closure of the table itself.
#
# For C8 the comparison runs inside the disk `group.mask` (the corners are lost by a 45° turn).

# %%
noise_a, noise_b = torch.randn(2, 1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
other = center_crop(load_image("coins", max_side=2 * SIZE), SIZE)[None]  # an unrelated photograph
print(f"two independent zero-mean noise images:   {relative_error(noise_a, noise_b):.3f} (√2 = {2 ** 0.5:.3f})")
print(f"two unrelated photographs, as they are:   {relative_error(x, other):.3f}")
print(f"the same two photographs, centred:        {relative_error(centred(x), centred(other)):.3f}")


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
# `eqlab.metrics.error_vs_angle` measures `‖f(g x) − g f(x)‖` for any angle. We compare two random
# (untrained) nets. One is an ordinary CNN. The other is a *P4 group CNN*, built so that a quarter turn of
# the input turns every feature map and moves its channels round; notebook 2 builds it from its parts and
# proves the claim, here it is a black box that is exactly C4-equivariant, `Φ(g·x) = g·Φ(x)` for quarter
# turns. It is exact at 0°, 90°, 180°, 270°: ringed points at 0.
# Between them, the comparison itself needs interpolation, and even that net shows an error. The
# dashed line is the *floor*: the same measurement for an isotropic Gaussian blur, an operation that is
# rotation-equivariant before the pixels are sampled, so whatever error it shows is interpolation alone.
# An ordinary CNN is exact nowhere except at 0°.
#
# Our denoisers are residual, `f(x) = x − n(x)`: the `x` part is trivially equivariant and would
# drown the rest, so we measure the predicted noise `n(x)`, through a two-line wrapper
# (`eqlab.models.PredictedNoise`).

# %%
from eqlab.models import PredictedNoise

torch.manual_seed(0)
nets = {"strict": PredictedNoise(build("dncnn_p4", fields=4, depth=5)),
        "plain": PredictedNoise(build("dncnn", features=8, depth=5))}
angles = range(0, 361, {"quick": 15, "cpu": 5, "cuda": 5}[MODE])
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
# ## The words for an error
#
# Every notebook and the app put words beside these numbers, and all take them from one place,
# `eqlab.metrics.words`, so that a sentence cannot say what its number does not. For a layer (or an output)
# the words are five, each with its threshold; the vocabulary is printed here once, from the module, and
# the other notebooks use it. The *orientation-carrying share* is the part of a layer's energy that can
# turn with the input (notebooks 2 and 4 measure it); an image-valued output has none. The thresholds are
# for the layer errors of `eqlab.metrics`, measured on centred maps; below, the two nets' layers.

# %%
from eqlab.metrics import words

for word, meaning in words.VOCABULARY.items():
    print(f"{word:20} {meaning}")
print()
from eqlab.metrics import equivariance_components, orientation_summary

# the two nets' layers under C4, centred maps (the scale the thresholds are for)
layer_verdicts = {name: [(r["layer"], r["error"], None if r["blind"] is None else r["oriented_share"],
                          r["oriented_error"]) for r in orientation_summary(equivariance_components(net.net, x, C4()))]
                  for name, net in nets.items()}
for name, rows in layer_verdicts.items():
    for layer, error, share, oriented_error in rows:
        print(f"{name:7} {layer:12} {words.verdict(error, share, oriented_error)}")

# %% [markdown]
# ## Small rotations: the Lie derivative
#
# `error_vs_angle` turns by whole angles, where interpolation adds its own error. The **Lie derivative**
# asks the infinitesimal question: how fast does `rot₋ₜ Φ(rotₜ x)` leave `Φ(x)` as the angle `t` leaves 0?
#
# $$ L_\Phi(x) = \frac{d}{dt}\Big|_{t=0}\, \mathrm{rot}_{-t}\, \Phi(\mathrm{rot}_t\, x) $$
#
# It is zero for a map equivariant to every rotation. `eqlab.metrics.lie_derivative` estimates it by a
# central difference over a tiny angle, relative to the map (`‖L_Φ(x)‖ / ‖Φ(x) − mean‖`, per radian),
# for every layer and for the output, inside a disk that keeps the border out. Its **floor** is the same
# measurement for an isotropic Gaussian blur: an operation that commutes with every rotation before the
# pixels are sampled, so what it reads is the grid alone. A rotation moves no channels of a hidden
# layer at an infinitesimal angle, so the layers are compared channel by channel.

# %%
# the layers of the net inside the wrapper, then the predicted noise n(x) (the wrapper's output)
lie = {name: lie_derivative(net.net, x)[:-1] + lie_derivative(net, x, layers=[]) for name, net in nets.items()}
floor = lie["strict"][0]["floor"]
print(f"{'layer':16} {'strict':>8} {'plain':>8}   (relative Lie derivative, per radian)")
for name in dict.fromkeys(r["layer"] for rows in lie.values() for r in rows):
    values = {arm: next((r["value"] for r in rows if r["layer"] == name), float("nan")) for arm, rows in lie.items()}
    label = "predicted noise" if name == "output" else name
    print(f"{label:16} {values['strict']:8.3f} {values['plain']:8.3f}")
print(f"{'floor (a blur)':16} {floor:8.4f}")
output = {arm: rows[-1]["value"] for arm, rows in lie.items()}
print(f"at the output the strict net reads {output['strict'] / floor:.0f} x the floor and "
      f"{output['strict'] / output['plain']:.2f} x the plain net")

# %% [markdown]
# Read the last line: the P4 net, exact at every quarter turn, is nowhere near the floor at an
# infinitesimal angle; its 3×3 kernels are not isotropic, and nothing in its construction relates a kernel
# to the same kernel turned by 1°. Equivariance to small rotations has to come from elsewhere: from the
# data (a net may learn some from examples turned by any angle) or from isotropic or steerable kernels
# (`tests/test_lie.py` builds a net of isotropic kernels and finds it at the floor).
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
# **Exercise 3.** Write the action yourself. For an image `f` of `n × n` pixels, compute `(g·f)(p) = f(g⁻¹p)`
# for every pixel `p` and every element `g` of D4: turn the pixel coordinates about the centre with a 2×2
# matrix (counter-clockwise as displayed, row 0 at the top; the mirror flips left and right), index `f` at
# `g⁻¹p`, and assert that the result equals `D4().rotate(f, g)` exactly. Then check `g·(h·f) = (gh)·f`
# with your function.

# %% tags=["solution"] jupyter={"source_hidden": true}
def act_by_hand(f, element):
    """(g·f)(p) = f(g⁻¹p) for D4 element ``k + 4m`` (mirror if m, then k quarter turns); f: (B, C, n, n)."""
    n = f.shape[-1]
    k, mirror = element % 4, element // 4
    quarter = torch.tensor([[0, -1], [1, 0]])  # a counter-clockwise quarter turn of (u, v), v pointing up
    flip = torch.tensor([[-1, 0], [0, 1]])  # u -> -u: left and right swap
    matrix = torch.linalg.matrix_power(quarter, k) @ (flip if mirror else torch.eye(2, dtype=torch.long))
    inverse = matrix.T  # a rotation or a reflection: its inverse is its transpose
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    centre = (n - 1) / 2
    uv = torch.stack([cols - centre, centre - rows]).reshape(2, -1)  # (2, n*n): u right, v up
    source = inverse.to(uv.dtype) @ uv  # g⁻¹p
    src_rows, src_cols = (centre - source[1]).round().long(), (source[0] + centre).round().long()
    return f[..., src_rows, src_cols].reshape(f.shape)


d4 = D4()
for element in d4.elements():
    assert torch.equal(act_by_hand(x, element), d4.rotate(x, element)), d4.describe(element)
print("(g·f)(p) = f(g⁻¹p) by hand equals D4().rotate for all", d4.order, "elements")
assert all(torch.equal(act_by_hand(act_by_hand(x, h), g_), act_by_hand(x, d4.compose(g_, h)))
           for g_ in d4.elements() for h in d4.elements())
print("and g·(h·f) = (gh)·f for all 64 pairs: the inverse in f(g⁻¹p) makes the action compose this way")
