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
# - the price of strictness: four times the multiply-adds at equal parameters.

# %%
# %matplotlib inline
import os
import time

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

# %%
models = {"DnCNN(features=32)": build("dncnn", features=32, depth=8),
          "DnCNNP4(fields=16)": build("dncnn_p4", fields=16, depth=8)}
probe = torch.rand(1, 1, SIZE, SIZE)
for name, model in models.items():
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        model(probe)
        start = time.perf_counter()
        for _ in range(3):
            model(probe)
    print(f"{name:20} {params:8,d} parameters   forward {1e3 * (time.perf_counter() - start) / 3:6.1f} ms")

# %% [markdown]
# **Take-aways.** In a group CNN the channel shift is not a convention but a consequence of weight
# sharing across rotated kernels. Equal parameters buy a map twice as wide (`4F = 2C` channels) and
# four times the multiply-adds. EQ-Reg (notebook 3) asks an ordinary CNN to *behave* like this,
# softly, at no cost at test time.
