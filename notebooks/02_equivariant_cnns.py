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
# - the *lifting* convolution: one kernel, four rotated copies, so a rotated input rotates the maps
#   **and** cycles the four orientation channels;
# - the *group* convolution, and why its output carries the same cyclic shift (the `P_g` of EQ-Reg);
# - a strict P4 net's feature maps cycling, and `viz.rotation_panel` at zero error on the strict twin,
#   next to an ordinary CNN;
# - representations: `regular` (cyclic shift), `trivial` (images), `pixel_shuffle(2)`;
# - the price of strictness at equal parameters: multiply-adds counted, forward time measured.

# %%
# %matplotlib inline
import os

import torch

QUICK = os.environ.get("EQLAB_QUICK") == "1"  # quick mode: small images, few steps (what CI runs)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"quick mode: {QUICK} · device: {DEVICE} · torch {torch.__version__}")

# %%
from eqlab import C2, C4, D4, viz
from eqlab.data import center_crop, load_image
from eqlab.groups import regular
from eqlab.layers import GroupConv2d, LiftingConv2d
from eqlab.metrics import equivariance_error, mean_layer_error, relative_error
from eqlab.models import build

torch.manual_seed(0)
SIZE = 48 if QUICK else 128
x = center_crop(load_image("camera", max_side=2 * SIZE), SIZE)[None]  # (1, 1, SIZE, SIZE)
g = C4()

# %% [markdown]
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
# ## Representations
#
# Not every layer transforms by a cyclic shift. An image-valued layer (the last conv) uses the
# **trivial** representation: rotate, permute nothing. The conv before a `PixelShuffle(2)` holds the
# four sub-pixels of each 2×2 block; a quarter turn moves them around the block, which is a different
# permutation (notebook 5). Each cell names the channel that lands there:

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
# **Exercise 1.** A group convolution maps a P4 map to a P4 map. Check it on a random P4 input `h` of
# 2 fields: `gconv(P_g rot_g h)` against `P_g rot_g gconv(h)` (`g.act(..., regular())`), for every quarter
# turn, and show that leaving out the channel shift breaks the equality.

# %% tags=["solution"] jupyter={"source_hidden": true}
layer = GroupConv2d(2, 3, kernel_size=3)
h = torch.randn(1, 2 * 4, 24, 24, generator=torch.Generator().manual_seed(0))  # 2 fields x 4 orientations
with torch.no_grad():
    for k in g.elements()[1:]:
        exact = relative_error(layer(g.act(h, k, regular())), g.act(layer(h), k, regular()))
        rotated_only = relative_error(layer(g.rotate(h, k)), g.rotate(layer(h), k))
        print(f"{g.describe(k):>8}: with P_g {exact:.1e}   rotation only {rotated_only:.3f}")

# %% [markdown]
# **Exercise 2.** Under the half turn (element 2), from which channel does channel 0 of a regular field come?
# Read it off `regular().table(C4(), 2, 4)`, then check it on the Sobel lifting conv above: channel 0 of
# `sobel(g²·x)` should be channel 2 of `sobel(x)`, turned by 180°.

# %% tags=["solution"] jupyter={"source_hidden": true}
print("P_g for the half turn, position c reads channel:", regular().table(g, 2, 4))
with torch.no_grad():
    turned = sobel(g.rotate(x, 2))  # (1, 4, H, W)
    reference = g.rotate(sobel(x), 2)
    print("relative error, channel 0 of sobel(g²x) vs channel 2 of g² sobel(x):",
          f"{relative_error(turned[:, 0], reference[:, 2]):.1e}")

# %% [markdown]
# **Exercise 3.** Does the ratio of multiply-adds depend on the input size or the depth? Count it with
# `multiply_adds` for inputs of 32 and 96 pixels and for nets of depth 4 and 12 (same widths as above).

# %% tags=["solution"] jupyter={"source_hidden": true}
for depth in (4, 12):
    pair = build("dncnn", features=32, depth=depth).eval(), build("dncnn_p4", fields=16, depth=depth).eval()
    for side in (32, 96):
        x_side = torch.rand(1, 1, side, side)
        plain_count, strict_count = (multiply_adds(m, x_side) for m in pair)
        print(f"depth {depth:2}, {side:2}x{side:<2} input: strict / plain = {strict_count / plain_count:.2f}")
print("the body convs dominate: each reads twice the channels and writes twice the channels, 4x in all;")
print("only the first and last convs (image in, image out) differ, so the ratio creeps toward 4 with depth")
