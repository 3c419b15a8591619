"""The probe: the net is run dry and left exactly as it was; rolls are traced; the graph finds the output."""

import pytest
import torch
import torch.nn as nn

from eqlab.models import build
from eqlab.probe import probe
from eqlab.selection import select


class InPlace(nn.Module):
    """Scales its input in place, as RCAN does (x *= 255), and pads before a conv (an off-grid map)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.padded = nn.Conv2d(8, 8, 3, padding=2)
        self.out = nn.Conv2d(8, 1, 3, padding=0)

    def forward(self, x):
        x *= 2
        return self.out(self.padded(self.conv(x)))


def test_the_probe_changes_nothing():
    model = build("dncnn", features=8, depth=4).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    select(model)
    assert model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    x = torch.rand(2, 1, 16, 16)
    copy = x.clone()
    chosen = select(InPlace(), example=x)
    assert torch.equal(x, copy)  # the caller's input
    assert "not on the input's grid" in next(r for r in chosen.rows if r.name == "padded").reason




class Rolled(nn.Module):
    """A channels-last map rolled before a Linear, rolled back after it (Swin's shifted windows, without windows)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(1, 8, 3, padding=1)
        self.mix = nn.Linear(8, 8)
        self.after = nn.Linear(8, 8)
        self.out = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x):
        t = self.embed(x).permute(0, 2, 3, 1)
        t = torch.roll(self.mix(torch.roll(t, (-4, -4), (1, 2))), (4, 4), (1, 2))
        return self.out(self.after(t).permute(0, 3, 1, 2))


def test_rolls_are_traced_and_undone():
    seen = probe(Rolled(), ["embed", "mix", "after", "out"])
    frames = {name: calls[0].frame for name, calls in seen.calls.items()}
    assert frames["embed"] == frames["after"] == frames["out"] == (0, 0)
    assert frames["mix"] == (torch.tensor(60 / 64).item(), torch.tensor(60 / 64).item())  # rolled by -4 of 64
    assert seen.feeds_output == {"out"} and seen.wide is not None


def test_frozen_weights_still_give_the_graph():
    model = build("dncnn", features=8, depth=3)
    for p in model.parameters():
        p.requires_grad_(False)
    assert probe(model, ["head", "tail"]).feeds_output == {"tail"}


def test_exception():
    with pytest.raises(ValueError, match="takes none of the probe inputs"):
        probe(nn.Sequential(nn.Conv2d(5, 8, 3), nn.Conv2d(7, 1, 3)), ["0"])
    with pytest.raises(ValueError, match="cannot probe Sequential with the example"):
        probe(nn.Sequential(nn.Conv2d(3, 8, 3)), ["0"], example=torch.rand(1, 1, 8, 8))
