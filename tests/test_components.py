"""Which equivariance: a strict net is equivariant in every component, a blind net is flagged, energies add up,
and the "unrelated maps" figure the text quotes is measured on maps like the nets' own."""

import math

import pytest
import torch
import torch.nn as nn

from eqlab.groups import C4, D4, Regular, Trivial
from eqlab.layers import GroupConv2d, GroupToImageConv2d, LiftingConv2d
from eqlab.metrics import (
    BLIND_SHARE,
    EXACT,
    UNRELATED,
    centred,
    equivariance_components,
    orientation_summary,
    relative_error,
    rotation_view,
    verdict,
)
from eqlab.metrics.words import EQUIVARIANT, PARTLY
from eqlab.models import build

X = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))


class StrictNet(nn.Sequential):
    def __init__(self):
        torch.manual_seed(0)
        super().__init__(LiftingConv2d(1, 4), nn.ReLU(inplace=True), GroupConv2d(4, 4), nn.ReLU(inplace=True),
                         GroupToImageConv2d(4, 1))

    def equivariance_reps(self, group):
        return {"0": Regular(), "2": Regular(), "4": Trivial()}


def blind_net(wobble: float = 0.002) -> nn.Sequential:
    """Every field's four channels equal, every kernel isotropic, plus a small random ``wobble`` of the kernels: a
    small error because almost nothing carries orientation, as a trained net's that met the penalty by
    throwing orientation away (orientation-blind). ``wobble=0``: exactly equivariant by construction."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU(inplace=True), nn.Conv2d(8, 1, 3, padding=1))
    ring = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16  # invariant under quarter turns
    with torch.no_grad():
        for conv in (net[0], net[2], net[4]):
            fields = torch.randn(conv.out_channels // 4 or 1, conv.in_channels)
            weight = fields.repeat_interleave(4, dim=0)[:conv.out_channels]  # equal within each field
            conv.weight.copy_(weight[:, :, None, None] * ring + wobble * torch.randn_like(conv.weight))
    return net


def test_strict_net_is_equivariant_in_every_component_that_holds_energy():
    rows = equivariance_components(StrictNet(), X, C4())
    regular = [r for r in rows if r["rep"] == "regular"]
    assert {r["component"] for r in regular} == {"invariant", "frequency 1", "sign"}
    for row in rows:
        if row["share"] > 1e-6:
            assert row["value"] < 1e-4, row
    summary = orientation_summary(rows)
    assert all(s["oriented_share"] > BLIND_SHARE for s in summary if s["rep"] == "regular")
    assert [s["blind"] for s in summary if s["rep"] == "trivial"] == [None]


def test_hand_built_blind_net_is_flagged():
    rows = equivariance_components(blind_net(), X, C4())
    hidden = [s for s in orientation_summary(rows) if s["rep"] == "regular"]
    assert hidden and all(s["blind"] for s in hidden)
    assert all(EXACT < s["error"] < EQUIVARIANT and s["oriented_share"] < 0.01 for s in hidden)  # small, not exact
    assert all(s["oriented_error"] > PARTLY for s in hidden)  # the part that carries orientation is unrelated
    assert all(s["verdict"].startswith("orientation-blind") for s in hidden)


def test_a_net_equivariant_by_construction_is_never_blind():
    """Issue 27: an exactly equivariant layer is called exactly equivariant, whatever share carries orientation;
    the kit's blindness warning is about nets that are not equivariant by construction."""
    rows = equivariance_components(blind_net(wobble=0.0), X, C4())
    hidden = [s for s in orientation_summary(rows) if s["rep"] == "regular"]
    assert hidden and all(s["error"] < EXACT and s["oriented_share"] < 1e-6 for s in hidden)
    assert not any(s["blind"] for s in hidden)
    assert all(s["verdict"].startswith("exactly equivariant") and "0 % of its energy" in s["verdict"] for s in hidden)
    for s in orientation_summary(equivariance_components(StrictNet(), X, C4())):
        assert s["blind"] in (None, False) and s["verdict"].startswith("exactly equivariant"), s


def test_component_energies_add_up_to_the_total():
    net = build("dncnn", features=8, depth=3)
    rows = equivariance_components(net, X, C4(), elements=[1])
    for layer in {r["layer"] for r in rows}:
        parts = [r for r in rows if r["layer"] == layer]
        view = rotation_view(net, X, C4(), 1, layer)
        a, b = centred(view.shifted), centred(view.rotated_input)
        assert sum(r["energy"] for r in parts) == pytest.approx(float(a.pow(2).sum() + b.pow(2).sum()), rel=1e-4)
        assert sum(r["diff"] for r in parts) == pytest.approx(float((a - b).pow(2).sum()), rel=1e-4)
        assert sum(r["share"] for r in parts) == pytest.approx(1.0, abs=1e-5)
        whole = orientation_summary(parts)[0]["error"]
        assert whole == pytest.approx(view.with_shift, rel=1e-4)  # the whole layer's (centred) error


def test_unrelated_maps_read_sqrt2_centred_and_less_uncentred():
    """The figure the text quotes: ReLU features of a random DnCNN for two different images."""
    torch.manual_seed(1)
    net = build("dncnn", features=16, depth=4).eval()
    feats = {}
    net.body[1].register_forward_hook(lambda m, i, o: feats.setdefault(len(feats), o.detach().clone()))
    with torch.no_grad():
        net(torch.rand(1, 1, 48, 48))
        net(torch.rand(1, 1, 48, 48))
    a, b = torch.relu(feats[0]), torch.relu(feats[1])  # non-negative, like the nets' own hidden maps
    assert relative_error(centred(a), centred(b)) == pytest.approx(UNRELATED, abs=0.1)
    assert 0.6 < relative_error(a, b) < 1.25  # uncentred: far below √2 though the maps are unrelated
    assert math.isclose(UNRELATED, math.sqrt(2))


def test_verdict_reads_the_thresholds():
    assert verdict(3e-7).startswith("exactly equivariant") and "3e-07" in verdict(3e-7)  # round-off never reads 0
    assert verdict(0.2).startswith("softly equivariant")
    assert verdict(1.4).startswith("not equivariant")
    assert verdict(0.03, oriented_share=0.01, oriented_error=1.2).startswith("orientation-blind")
    assert verdict(0.05, oriented_share=0.6, oriented_error=0.1).startswith("softly equivariant, carrying orientation")
    assert verdict(0.9, oriented_share=0.6, oriented_error=1.3).startswith("not equivariant")


def test_rotation_view_summary_and_d4():
    net = build("dncnn", features=8, depth=3)
    summary = rotation_view(net, X, D4(), 5, "head").summary()
    assert set(summary) >= {"error", "oriented_share", "oriented_error", "invariant_error", "blind", "verdict"}
    names = [r["component"] for r in rotation_view(net, X, D4(), 5, "head").components()]
    assert names == ["invariant", "A2", "B1", "B2", "E"]


@pytest.mark.parametrize("name, names", [("C6", ["invariant", "frequency 1", "frequency 2", "sign"]),
                                          ("D6", ["invariant", "A2", "B1", "B2", "E1", "E2"])])
def test_components_of_any_family_member(name, names):
    net = build("dncnn", features=12, depth=3)
    rows = equivariance_components(net, X, name, elements=[1, 3])
    for layer in {r["layer"] for r in rows if r["rep"] == "regular"}:
        for element in (1, 3):
            parts = [r for r in rows if r["layer"] == layer and r["element"] == element]
            assert [r["component"] for r in parts] == names
            assert sum(r["share"] for r in parts) == pytest.approx(1.0, abs=1e-5)
    assert {s["layer"] for s in orientation_summary(rows)} == {r["layer"] for r in rows}


def test_exception():
    with pytest.raises(ValueError, match="square"):
        equivariance_components(StrictNet(), X[..., :12], C4())
    with pytest.raises(TypeError):
        equivariance_components(StrictNet(), X.numpy(), C4())


@pytest.mark.parametrize("value", [0.0, 0.5])
def test_a_uniform_image_is_not_measured_rather_than_a_crash_or_a_verdict(value):
    """Round-off energy (a black image's centred maps) once made math.sqrt fail or read "anti-correlated"."""
    net = build("dncnn", features=8, depth=3)
    rows = equivariance_components(net, torch.full((1, 1, 16, 16), value))
    assert all(r["diff"] >= 0 and r["energy"] >= 0 for r in rows)
    for summary in orientation_summary(rows):
        if value == 0.0 and summary["layer"] == "head":  # the first conv of a black image: a constant map
            assert math.isnan(summary["error"]) and summary["verdict"] == "not measured"
        assert summary["verdict"] == "not measured" or 0 <= summary["error"] <= 2 + 1e-6


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(error=-1), ValueError, "error must be NaN or a number in \\[0, inf\\], got -1"),
    (dict(error=0.1, oriented_share=1.5, oriented_error=0.1), ValueError, "oriented_share"),
    (dict(error=0.1, oriented_share=0.5, oriented_error=-0.2), ValueError, "oriented_error"),
    (dict(error="0.1"), TypeError, "str"),
    (dict(error=None), TypeError, "NoneType"),
])
def test_verdict_refuses_what_no_measurement_gives(kwargs, error, match):
    with pytest.raises(error, match=match):
        verdict(**kwargs)
    assert verdict(float("nan")) == "not measured"
