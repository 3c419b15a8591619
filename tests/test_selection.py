"""Selection by probing: layouts from shapes, representations from the graph (output layer, PixelShuffle),
shifted windows from traced rolls, train-only layers, skip reasons, a probe that changes nothing."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from eqlab.groups import PixelShuffle, Regular, Trivial
from eqlab.layouts import ChannelsLast, Map, Tokens, Windows
from eqlab.models import build
from eqlab.selection import select


def partition(m, s):
    b, h, w, c = m.shape
    return m.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)


def reverse(windows, s, b, h, w):
    c = windows.shape[-1]
    return windows.view(b, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


class TinySwin(nn.Module):
    """A Swin-like net: conv embedding, two blocks of (shifted) window attention on tokens, an MLP on raster
    tokens, a channel-attention branch (pooled vectors), a position table, a PixelShuffle upsampler, and the
    output conv registered *first* (as NAFNet registers its ending)."""

    def __init__(self, dim=16, window=8):
        super().__init__()
        self.last = nn.Conv2d(dim // 4, 1, 3, padding=1)  # the output layer, registered first
        self.embed = nn.Conv2d(1, dim, 3, padding=1)
        self.window = window
        self.qkv = nn.ModuleList(nn.Linear(dim, 3 * dim) for _ in range(2))
        self.proj = nn.ModuleList(nn.Linear(dim, dim) for _ in range(2))
        self.mlp = nn.Linear(dim, dim)
        self.squeeze = nn.Linear(dim, dim // 4)  # channel attention on pooled vectors
        self.table = nn.Linear(2, 4)  # a relative-position table, independent of the image
        self.up = nn.Conv2d(dim, dim, 3, padding=1)  # feeds PixelShuffle(2) of a feature map
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        h = self.embed(x)  # (B, C, H, W)
        b, c, height, width = h.shape
        t = h.permute(0, 2, 3, 1)  # (B, H, W, C)
        self.table(torch.zeros(1, 15, 2, device=x.device))
        for i in range(2):
            shift = self.window // 2 if i else 0
            rolled = torch.roll(t, (-shift, -shift), (1, 2)) if shift else t
            q, k, v = self.qkv[i](partition(rolled, self.window)).chunk(3, dim=-1)
            a = self.proj[i](F.scaled_dot_product_attention(q, k, v))
            a = reverse(a, self.window, b, height, width)
            t = t + (torch.roll(a, (shift, shift), (1, 2)) if shift else a)
        tokens = t.reshape(b, height * width, c)
        tokens = tokens + self.mlp(tokens)  # raster tokens
        h = tokens.transpose(1, 2).reshape(b, c, height, width)
        h = h * torch.sigmoid(self.squeeze(h.mean((-2, -1)))).repeat(1, 4)[..., None, None]
        return self.last(self.shuffle(self.up(h)))


def layouts(selection):
    return {layer.name: layer.layout for layer in selection}


def test_smoke_eqlab_nets_declare_their_layers():
    for name, kw in [("dncnn", dict(features=8, depth=4)), ("srnet", dict(features=8, depth=4)),
                     ("unet", dict(features=8)), ("dncnn_p4", dict(fields=2, depth=3)), ("winattn", dict(dim=16))]:
        model = build(name, **kw)
        chosen = select(model)
        assert set(chosen.names()) == set(model.equivariance_reps(__import__("eqlab").C4())), name
        assert all(r.chosen for r in chosen.rows), name
    attn = select(build("winattn", dim=16))
    assert isinstance(layouts(attn)["blocks.0.qkv"], ChannelsLast) and isinstance(layouts(attn)["embed"], Map)


def test_module_a_swin_like_net_attaches_unmodified():
    chosen = select(TinySwin())
    by_name = {layer.name: layer for layer in chosen}
    assert layouts(chosen)["qkv.0"] == Windows(8) and layouts(chosen)["proj.0"] == Windows(8)
    assert layouts(chosen)["qkv.1"] == Windows(8, shift=4)  # shifted windows, from the traced torch.roll
    assert isinstance(layouts(chosen)["mlp"], Tokens)
    assert by_name["last"].rep == Trivial() and by_name["last"].role == "output"  # by the graph, not the order
    assert by_name["up"].rep == PixelShuffle(2, Regular())
    assert by_name["embed"].rep == Regular()
    skipped = {r.name: r.reason for r in chosen.rows if not r.chosen}
    assert "vector" in skipped["squeeze"] and "does not grow" in skipped["table"]
    assert chosen.names()[0] == "embed"  # execution order


class Branches(nn.Module):
    """A conv that only runs in training mode, another that only runs in eval mode (SPAN's reparametrised convs)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(1, 8, 3, padding=1)
        self.train_only = nn.Conv2d(8, 8, 3, padding=1)
        self.eval_only = nn.Conv2d(8, 8, 3, padding=1)
        self.tail = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x):
        h = self.head(x)
        h = self.train_only(h) if self.training else self.eval_only(h)
        return self.tail(h)


def test_only_layers_that_run_are_chosen():
    model = Branches().eval()
    train, evaluation = select(model, mode="train"), select(model, mode="eval")
    assert "train_only" in train.names() and "eval_only" not in train.names()
    assert "eval_only" in evaluation.names() and "train_only" not in evaluation.names()
    assert next(r for r in train.rows if r.name == "eval_only").reason == "did not run in a train-mode forward"
    assert not model.training  # the probe restored the mode


def test_declared_layouts_and_skips():
    chosen = select(TinySwin(), layouts={"mlp": None, "qkv.1": Windows(8)})
    assert "mlp" not in chosen.names() and layouts(chosen)["qkv.1"] == Windows(8)
    assert select(TinySwin(), layers="hidden").names().count("last") == 0  # the reference code's choice


def test_skip_patterns_leave_layers_plain():
    """skip: fnmatch patterns on module names, one string or several; the report names the pattern."""
    everything = select(TinySwin())
    chosen = select(TinySwin(), layers="hidden", skip="qkv.*, mlp")
    assert not any(n.startswith("qkv.") or n == "mlp" for n in chosen.names())
    assert set(chosen.names()) == {n for n in everything.names() if not n.startswith("qkv.") and n not in
                                   ("mlp", "last")}
    reasons = {r.name: r.reason for r in chosen.rows}
    assert reasons["mlp"] == "left plain: matches skip 'mlp'" and reasons["qkv.0"].endswith("'qkv.*'")
    assert select(TinySwin(), skip=["mlp"]).names() == [n for n in everything.names() if n != "mlp"]


def test_exception():
    with pytest.raises(ValueError, match=r"skip pattern\(s\) \['qvk\.\*'\] match no candidate"):
        select(TinySwin(), skip="qvk.*")
    with pytest.raises(TypeError, match="skip must be None"):
        select(TinySwin(), skip=3)
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) in layers: 'nope'"):
        select(TinySwin(), layers=["nope"])
    with pytest.raises(ValueError, match=r"'squeeze' \(Linear\) cannot be regularized: .*vector"):
        select(TinySwin(), layers=["squeeze"])
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) in layouts: 'mpl' \(close: 'mlp'"):
        select(TinySwin(), layouts={"mpl": None})
    with pytest.raises(TypeError, match="nn.Module"):
        select("a model")
    with pytest.raises(ValueError, match="no layer of Sequential can be regularized"):
        select(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 1, 3, padding=1)), layers="hidden")
