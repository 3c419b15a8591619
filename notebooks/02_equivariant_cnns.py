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
# # 2 · Equivariant CNNs: where the channel shift comes from
#
# **What you will learn**
#
# - what a *representation* is, `ρ(gh) = ρ(g)ρ(h)`, and the three a restoration net needs: regular
#   (hidden layers), trivial (images) and the PixelShuffle one;
# - the *lifting* and *group* convolutions as formulas, and how a group CNN gets back to an image;
# - the *lifting* convolution: one kernel, four rotated copies, so a rotated input rotates the maps
#   **and** cycles the four orientation channels;
# - the *group* convolution, and why its output carries the same cyclic shift (the `P_g` of EQ-Reg);
# - a strict P4 net's feature maps cycling, and `viz.rotation_panel` at zero error on the strict twin,
#   next to an ordinary CNN;
# - what "equivariant" can hide: a field whose channels are all equal is equivariant for free;
# - exercises where you build the pieces and check them against eqlab: the representation law on the
#   tables, a lifting convolution from `rot90` and `conv2d`, a projection back to an image;
# - the price of strictness at equal parameters: multiply-adds counted, forward time measured.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MODE = "quick" if QUICK else DEVICE  # budgets are chosen by device: "cpu" fits a laptop, "cuda" runs longer
print(f"mode: {MODE} · torch {torch.__version__}")

# %%
from eqlab import C2, C4, D4, viz
from eqlab.data import center_crop, load_image
from eqlab.groups import pixel_shuffle, regular, trivial
from eqlab.layers import GroupConv2d, GroupPool, GroupToImageConv2d, LiftingConv2d
from eqlab.metrics import (
    equivariance_components,
    equivariance_error,
    mean_layer_error,
    orientation_summary,
    relative_error,
)
from eqlab.models import build

torch.manual_seed(0)
SIZE = {"quick": 48, "cpu": 128, "cuda": 128}[MODE]
x = center_crop(load_image("camera", max_side=2 * SIZE), SIZE)[None]  # (1, 1, SIZE, SIZE)
g = C4()

# %% [markdown]
# ## Definitions: how a group acts on a feature map
#
# Notebook 1 defined the action on an image, `(g·f)(p) = f(g⁻¹p)`. A hidden layer's output `y` has `C`
# channels, and a group element may also move them: `g·y = P_g rot_g y`, with `P_g` a permutation of the
# channels (position `c` of `P_g y` reads channel `table[c]` of `y`). For this to be an action, turning by
# `h` and then by `g` must equal turning by `gh` once, which asks of the permutations
#
# $$ \rho(gh) = \rho(g)\,\rho(h) \quad\text{for all } g, h \in G, \qquad \rho(e) = \mathrm{id}: $$
#
# a map `ρ` from the group to invertible matrices (here permutations) with this law is a
# **representation**. Three of them appear in a restoration net:
#
# - **trivial**, `P_g = id`: every channel is a scalar image (the input, the output, an image-valued conv);
# - **regular**, channels grouped in fields of `|G|`, one channel per group element `h`, with
#   `(P_g y)_h = y_{g⁻¹h}`: for C4 a cyclic shift of the four orientations of each field;
# - **PixelShuffle**: the conv before `nn.PixelShuffle(r)` holds the `r²` sub-pixels of each output block,
#   and a turn moves them around the block (notebook 5).
#
# A layer `Φ` is equivariant when `Φ(g·x) = P_g rot_g Φ(x)`: the layer error of `eqlab.metrics` measures
# exactly this difference. A group CNN is built so that every layer satisfies it by construction:
#
# - **lifting** convolution (image → P4 map), kernel `ψ`, orientation `j`:
#   $[x \star \psi]_j(p) = \sum_q x(q)\, (\mathrm{rot}_j\,\psi)(q - p)$;
# - **group** convolution (P4 map → P4 map), one kernel `Ψ_s` per input orientation `s`:
#   $[y \star \Psi]_j(p) = \sum_s \sum_q y_s(q)\, (\mathrm{rot}_j\,\Psi_{s-j})(q - p)$;
# - **projection** back to an image (P4 map → image): sum the orientations, each read with a kernel turned
#   to match, $\sum_s [y_s \star \mathrm{rot}_s V]$ (`GroupToImageConv2d`), or pool over them (mean or
#   max, `GroupPool`). Both are unchanged by `P_g`, so their output turns with the input and nothing else.
#
# ## Lifting: one kernel, four orientations
#
# `LiftingConv2d(1, fields, k)` learns one kernel per field and uses it in four copies rotated by
# 0, 1, 2, 3 quarter turns: output channel `4·f + j` is field `f`, orientation `j`.

# %%
lift = LiftingConv2d(1, 2, kernel_size=5)
bank = lift.filter_bank()  # (2 fields * 4 orientations, 1, 5, 5)
viz.image_grid(bank[:, 0], [f"field {i // 4}, orientation {i % 4}" for i in range(8)], ncols=4,
               cmap="RdBu_r", symmetric=True, colorbar=True, suptitle="the filter bank of a lifting conv")

# %% [markdown]
# Rotate the input by a quarter turn. Orientation `j` of the rotated input meets the kernel rotated `j`
# times, which is the unrotated input meeting orientation `j - 1`: the maps rotate **and** move one
# channel up inside each field. That move is the *regular representation* `P_g`:

# %%
with torch.no_grad():
    y, y_rot = lift(x), lift(g.rotate(x, 1))
print(f"rotate the maps only:              error {relative_error(g.rotate(y, 1), y_rot):.3f}")
print(f"rotate and shift channels (P_g):   error {relative_error(g.act(y, 1, regular()), y_rot):.2e}")

# %% [markdown]
# ## Seeing the cycle
#
# Give a lifting conv an edge detector (a Sobel kernel: orientation 0 answers to vertical edges,
# orientation 1 to the same edges turned a quarter, ...). Feed it `x, g·x, g²·x, g³·x` and rotate each
# result back. The four maps are the same four pictures every time, moved one channel to the right per
# quarter turn:

# %%
sobel = LiftingConv2d(1, 1, kernel_size=3, bias=False)
with torch.no_grad():
    sobel.weight[0, 0] = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
maps, titles = [], []
with torch.no_grad():
    for k, name in zip(g.elements(), ["x", "g·x", "g²·x", "g³·x"]):
        back = g.rotate(sobel(g.rotate(x, k)), g.inverse(k))  # (1, 4, H, W), rotated back
        maps += [back[0, c] for c in range(4)]
        titles += [f"input {name} · channel {c}" for c in range(4)]
viz.image_grid(maps, titles, ncols=4, cmap="RdBu_r", symmetric=True,
               suptitle="a lifting conv, rotated back: the maps move one channel per quarter turn")

# %% [markdown]
# ## Group convolution keeps the shift
#
# `GroupConv2d` maps a P4 map to a P4 map. Output orientation `j` reads input orientation `s` with
# the kernel `W[:, :, s - j]` rotated `j` times: its bank is the same kernel table rolled by one
# orientation and rotated by a quarter turn per output row. That is why *every* layer of a P4 net
# transforms by the same cyclic shift.

# %%
gconv = GroupConv2d(1, 1, kernel_size=3, bias=False)
with torch.no_grad():  # readable kernels: an "L" whose brightness says which input orientation it reads
    ell = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    for s in range(4):
        gconv.weight[0, 0, s] = (s + 1) * ell
bank = gconv.filter_bank().detach()  # (4 output orientations, 4 input orientations, 3, 3)
viz.image_grid(bank.reshape(16, 3, 3), [f"out {j} ← in {s}" for j in range(4) for s in range(4)], ncols=4,
               cmap="viridis", vrange=(0, 4), colorbar=True,
               suptitle="group conv bank: each row is the row above rolled one step and turned a quarter")

# %% [markdown]
# ## The paper's figure 1(c), from a real net
#
# `viz.rotation_panel` compares `f(g·x)` with `P_g rot_g f(x)` for one layer and one field. On the
# strict twin the error row is black (round-off only). On an ordinary CNN it is not, whichever channel
# order you try.
#
# The table after the panels prints two errors per net, averaged over layers and elements: **with `P_g`**,
# the layer's own representation; and the **best permutation**: for each layer and element, the smallest
# error over the permutations `P_h` of *every* group element `h` (`kind="best"`). The second asks whether
# the net is equivariant with its channels in some other order of the group; an ordinary CNN is not, in any
# order.

# %%
strict = build("dncnn_p4", fields=4, depth=5)  # a random strict P4 denoiser
viz.rotation_panel(strict, x, g, element=1, layer="body.1.conv", field=0)

# %%
plain = build("dncnn", features=8, depth=5)
viz.rotation_panel(plain, x, g, element=1, layer="body.1.conv", field=0)

# %%
errors = {"plain": equivariance_error(plain, x, g), "strict": equivariance_error(strict, x, g)}
for arm, rows in errors.items():
    print(f"{arm:7} mean layer error with P_g: {mean_layer_error(rows, 'shift'):.2e}   "
          f"best permutation: {mean_layer_error(rows, 'best'):.2e}")
viz.layer_error_bars(errors)

# %% [markdown]
# ## What "equivariant" can hide
#
# The law `Φ(g·x) = P_g rot_g Φ(x)` can be met in a cheap way. Split each regular field into its mean over
# the four channels (the **invariant** part, which no `P_g` can move) and the rest, which changes with
# `P_g` and carries the orientation (for C4: the DFT along the field, `frequency 1` and `sign`). A field
# whose four channels are equal, isotropic maps satisfies the law *for free*: it is equivariant, and it has
# thrown orientation away (*orientation-blind*). `eqlab.metrics.equivariance_components` measures each
# part's share of the energy and its own error. Below, a lifting conv with a generic kernel next to a
# "blind" one whose four channels use the same isotropic kernel:

# %%
blind = LiftingConv2d(1, 2, kernel_size=3)
with torch.no_grad():
    blind.weight.copy_(torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16)  # a small blur
for name, layer in {"generic lifting conv": lift, "blind lifting conv": blind}.items():
    net = torch.nn.Sequential(layer, torch.nn.ReLU(), GroupToImageConv2d(2, 1, 3))  # a tiny strict net
    (summary, *_) = orientation_summary(equivariance_components(net, x, g, layers=["0"], reps={"0": regular()}))
    oriented_error = summary["oriented_error"]  # NaN when no energy carries orientation: nothing to compare
    print(f"{name:21} error {summary['error']:.1e}   orientation-carrying share of the energy "
          f"{max(summary['oriented_share'], 0.0):.3f}   its error "
          + (f"{oriented_error:.1e}" if oriented_error == oriented_error else "none (nothing to compare)"))

# %% [markdown]
# Both read an error of zero, and only the first carries orientation. A measurement of equivariance should
# say both numbers; notebook 4 reads them on the zoo's trained nets.

# %% [markdown]
# ## Representations, side by side
#
# The three representations of the definitions, as gather tables: each cell names the channel that lands
# there. The PixelShuffle one cycles the four sub-pixels too, in another channel order (notebook 5):

# %%
viz.channel_shift_diagram(C4(), ["regular", "pixel_shuffle(2)", "trivial"], channels=8)

# %% [markdown]
# A P4 layer is equivariant to C4 and to its subgroup C2 (a half turn shifts each field by 2), but
# not to reflections: eqlab refuses D4 for it rather than report a meaningless number.

# %%
print("P4 net under C2:", f"{mean_layer_error(equivariance_error(strict, x, C2())):.2e}")
try:
    equivariance_error(strict, x, D4())
except ValueError as err:
    print("under D4: ValueError:", err)

# %% [markdown]
# ## The price of strictness
#
# The two nets below have (almost) the same number of parameters. The strict one holds `fields × 4`
# channels per layer, twice the plain net's width, and every one of its convolutions reads all of them.
# We count the multiply-adds of one forward pass with PyTorch's `FlopCounterMode` (one multiply-add is two
# FLOPs), and we time the forward pass the way a benchmark should: one thread (so that the other
# processes of a shared machine matter less), a warm-up, several rounds that alternate the two nets (so a
# load change hits both), and the median of the rounds. The input is large enough that the convolutions
# are most of the work.

# %%
from statistics import median

from torch.utils.benchmark import Timer
from torch.utils.flop_counter import FlopCounterMode


def multiply_adds(model, x):
    """Multiply-adds of one forward pass (convolutions and matrix products)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def channels_of(model):
    return max(getattr(m, "out_channels", 0) for m in model.modules() if m is not model)


models = {"DnCNN(features=32)": build("dncnn", features=32, depth=8).eval(),
          "DnCNNP4(fields=16)": build("dncnn_p4", fields=16, depth=8).eval()}
TIME_SIZE, ROUNDS, CALLS = 128, 5 if QUICK else 15, 2 if QUICK else 5
probe = torch.rand(1, 1, TIME_SIZE, TIME_SIZE)
timers = {name: Timer("with torch.no_grad(): model(probe)", globals=dict(model=model, probe=probe, torch=torch),
                      num_threads=1) for name, model in models.items()}
for timer in timers.values():
    timer.timeit(3)  # warm-up: first calls allocate and choose kernels
seconds = {name: [] for name in models}
for _ in range(ROUNDS):  # alternate the nets, round after round
    for name, timer in timers.items():
        seconds[name].append(timer.timeit(CALLS).median)  # seconds per forward pass in this round

cost = {}
for name, model in models.items():
    params = sum(p.numel() for p in model.parameters())
    cost[name] = (multiply_adds(model, probe), median(seconds[name]))
    print(f"{name:20} {params:7,d} parameters  {channels_of(model):3d} channels  "
          f"{cost[name][0] / 1e9:5.2f} G multiply-adds  forward {1e3 * cost[name][1]:6.1f} ms "
          f"(median of {ROUNDS} rounds, {1e3 * min(seconds[name]):.1f}-{1e3 * max(seconds[name]):.1f})")
(plain_macs, plain_s), (strict_macs, strict_s) = cost.values()
print(f"strict / plain at {TIME_SIZE}x{TIME_SIZE}, one thread: multiply-adds x{strict_macs / plain_macs:.2f}, "
      f"measured time x{strict_s / plain_s:.2f}")

# %% [markdown]
# The count is exact and the same on every machine; the time ratio is a measurement, so it moves a little
# from run to run (the printed range shows by how much) and from one CPU to another: the strict net's
# wider maps use the cache and the convolution kernels differently, so the time ratio need not equal the
# count's.
#
# **Take-aways.** In a group CNN the channel shift is not a convention but a consequence of weight
# sharing across rotated kernels. At equal parameters the strict net carries twice the channels and pays
# the multiply-adds printed above, at training and at test time. EQ-Reg (notebook 3) asks an ordinary CNN
# to *behave* like this, softly, at no cost at test time.

# %% [markdown]
# ## Exercises
#
# Each solution is in the collapsed cell below its exercise (click it to expand). Try first.

# %% [markdown]
# **Exercise 1.** Check the representation law `ρ(gh) = ρ(g)ρ(h)` on the tables. With the gather convention
# (position `c` of `P_g y` reads channel `t_g[c]`), `P_g (P_h y)` reads `y[t_h[t_g[c]]]`. Assert
# `t_{gh}[c] = t_h[t_g[c]]` for every pair of elements, for `regular()` under C4 and D4, `pixel_shuffle(2)`
# under C4 and D4, and `trivial()`; then check the same law on a random map with `group.act`.

# %% tags=["solution"] jupyter={"source_hidden": true}
for group, rep, channels in [(C4(), regular(), 8), (D4(), regular(), 16), (C4(), pixel_shuffle(2), 8),
                             (D4(), pixel_shuffle(2), 8), (C4(), trivial(), 3)]:
    t = {e: rep.table(group, e, channels) for e in group.elements()}
    for a in group.elements():
        for b in group.elements():
            assert t[group.compose(a, b)] == [t[b][t[a][c]] for c in range(channels)], (group, rep, a, b)
    y = torch.randn(1, channels, 6, 6, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(group.act(group.act(y, b, rep), a, rep), group.act(y, group.compose(a, b), rep))
               for a in group.elements() for b in group.elements())
    print(f"{rep.name:26} under {group.name}: ρ(gh) = ρ(g)ρ(h) for all {group.order ** 2} pairs, on tables and maps")

# %% [markdown]
# **Exercise 2.** Write a lifting convolution yourself from `torch.rot90` and `torch.nn.functional.conv2d`:
# for a weight `w` of shape `(fields, 1, k, k)`, output channel `4·f + j` correlates the image with `w[f]`
# turned `j` quarter turns. Compare it with `LiftingConv2d` holding the same weight (assert), and check
# that your version is equivariant with `P_g` (`g.act(..., regular())`).

# %% tags=["solution"] jupyter={"source_hidden": true}
import torch.nn.functional as F


def my_lifting(x, w):
    """(B, 1, H, W) -> (B, fields * 4, H, W): channel 4 f + j uses w[f] turned j quarter turns."""
    bank = torch.stack([torch.rot90(w, j, dims=(-2, -1)) for j in range(4)], dim=1)  # (fields, 4, 1, k, k)
    return F.conv2d(x, bank.flatten(0, 1), padding=w.shape[-1] // 2)


reference = LiftingConv2d(1, 3, kernel_size=5, bias=False)
with torch.no_grad():
    mine, theirs = my_lifting(x, reference.weight), reference(x)
    assert torch.allclose(mine, theirs, atol=1e-6), (mine - theirs).abs().max()
    print(f"max |my lifting - LiftingConv2d| = {(mine - theirs).abs().max():.1e}")
    for k in g.elements()[1:]:
        error = relative_error(my_lifting(g.rotate(x, k), reference.weight), g.act(mine, k, regular()))
        assert error < 1e-5
        print(f"{g.describe(k):>8}: my_lifting(g x) vs P_g rot_g my_lifting(x): {error:.1e}")

# %% [markdown]
# **Exercise 3.** Project a P4 map back to an image. Take `y = lift(x)` (2 fields), and build two images from
# it: the mean over the four orientations of field 0, and `Σ_s y_s ⋆ rot_s V` for a random 3×3 kernel `V`
# written with `conv2d` (compare it with `GroupToImageConv2d` holding `V`, assert). Check that both images
# turn with the input and nothing else: `image(g·x) = rot_g image(x)`.

# %% tags=["solution"] jupyter={"source_hidden": true}
to_image = GroupToImageConv2d(2, 1, kernel_size=3, bias=False)
V = to_image.weight  # (1, 2 fields, 3, 3)


def my_projection(y):
    """(B, 2 * 4, H, W) -> (B, 1, H, W): orientation s of each field is read with V turned s quarter turns."""
    bank = torch.stack([torch.rot90(V, s, dims=(-2, -1)) for s in range(4)], dim=2)  # (1, 2, 4, 3, 3)
    return F.conv2d(y, bank.flatten(1, 2), padding=1)


images = {"mean over orientations": lambda image: GroupPool("mean")(lift(image))[:, :1],  # field 0
          "Σ_s y_s ⋆ rot_s V": lambda image: my_projection(lift(image))}
with torch.no_grad():
    assert torch.allclose(my_projection(lift(x)), to_image(lift(x)), atol=1e-6)
    for name, image in images.items():
        worst = max(relative_error(image(g.rotate(x, k)), g.rotate(image(x), k)) for k in g.elements()[1:])
        assert worst < 1e-5
        print(f"{name:23} image(g x) vs rot_g image(x), worst over C4: {worst:.1e}")
print("my projection equals GroupToImageConv2d; both images are equivariant with the trivial representation")
