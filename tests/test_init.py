"""eqlab.models.init: Kaiming with quiet output layers, and the equivariant start ("relaxed from strict")."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from eqlab.groups import C4, D4, PixelShuffle, Regular, Trivial, get_group
from eqlab.metrics import BLIND_SHARE, equivariance_components, orientation_summary
from eqlab.models import build
from eqlab.models.init import OUTPUT_SCALE, equivariant_conv_, initialise

NETS = {"dncnn": dict(features=16, depth=5), "srnet": dict(features=16, depth=5, scale=2),
        "unet": dict(features=16, levels=2)}


def _net(name: str, scheme: str, group: str = "C4", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return initialise(build(name, **NETS[name]), scheme, group=group)


def test_kaiming_quiets_the_output_layer_and_zeroes_biases():
    model = _net("dncnn", "kaiming")
    fan_in = model.tail.in_channels * 9
    assert model.tail.weight.std().item() == pytest.approx(OUTPUT_SCALE / math.sqrt(fan_in), rel=0.15)
    assert model.head.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.3)  # ReLU gain, fan-in 9
    assert all(float(conv.bias.detach().abs().max()) == 0 for conv in model.modules()
               if isinstance(conv, nn.Conv2d) and conv.bias is not None)


@pytest.mark.parametrize("group", ["C2", "C4", "D4"])
@pytest.mark.parametrize("name", list(NETS))
def test_equivariant_start_is_exact_and_keeps_orientation(name, group):
    model = _net(name, "equivariant", group).eval()
    x = torch.rand(2, 1, 32, 32)
    summary = orientation_summary(equivariance_components(model, x, group))
    assert summary, "no layer measured"
    for layer in summary:
        assert layer["error"] < 1e-4 and layer["invariant_error"] < 1e-4, layer
        if layer["blind"] is not None:  # a trivial (image) output has no orientation to keep
            assert layer["oriented_error"] < 1e-4, layer
            assert not layer["blind"] and layer["oriented_share"] > 2 * BLIND_SHARE, layer  # not a blind net
    g = get_group(group)
    for element in g.elements():  # and so is the output
        assert torch.allclose(model(g.rotate(x, element)), g.rotate(model(x), element), atol=1e-5)


def test_equivariant_start_keeps_kaiming_norms():
    kaiming, equivariant = _net("srnet", "kaiming"), _net("srnet", "equivariant")
    for (name, a), (_, b) in zip(kaiming.named_modules(), equivariant.named_modules()):
        if isinstance(a, nn.Conv2d):
            assert b.weight.norm().item() == pytest.approx(a.weight.norm().item(), rel=1e-5), name
            assert not torch.allclose(a.weight, b.weight), name


@pytest.mark.parametrize("reps", [(Trivial(), Regular()), (Regular(), Regular()), (Regular(), Trivial()),
                                  (Regular(), PixelShuffle(2, Trivial()))])
def test_equivariant_conv_is_a_projection_onto_equivariant_convs(reps):
    rep_in, rep_out = reps
    group = C4()
    c_in = 1 if isinstance(rep_in, Trivial) else 8
    c_out = {Trivial: 1, Regular: 8}.get(type(rep_out), 4)
    torch.manual_seed(1)
    conv = equivariant_conv_(nn.Conv2d(c_in, c_out, 3, padding=1), group, rep_in, rep_out)
    once = conv.weight.detach().clone()
    equivariant_conv_(conv, group, rep_in, rep_out)  # a fixed point stays put
    torch.testing.assert_close(conv.weight.detach(), once, atol=1e-6, rtol=1e-5)
    y = torch.rand(2, c_in, 12, 12)
    with torch.no_grad():
        for g in group.elements():
            torch.testing.assert_close(group.act(conv(y), g, rep_out), conv(group.act(y, g, rep_in)),
                                       atol=1e-5, rtol=1e-4)


def test_equivariant_start_refuses_what_it_cannot_make_equivariant():
    with pytest.raises(ValueError, match="C8"):
        _net("dncnn", "equivariant", "C8")
    with pytest.raises(ValueError, match="stride"):
        equivariant_conv_(nn.Conv2d(4, 4, 3, stride=2), C4(), Regular(), Regular())
    with pytest.raises(ValueError, match="not C4-equivariant"):
        torch.manual_seed(0)
        initialise(build("winattn", dim=16, depth=2), "equivariant")
    with pytest.raises(ValueError, match="unknown initialisation"):
        initialise(build("dncnn", **NETS["dncnn"]), "orthogonal")


def test_d4_start_turns_with_reflections_too():
    model = _net("dncnn", "equivariant", "D4").eval()
    x, group = torch.rand(1, 1, 24, 24), D4()
    mirror = next(e for e in group.elements() if group.is_reflection(e))
    with torch.no_grad():
        torch.testing.assert_close(model(group.rotate(x, mirror)), group.rotate(model(x), mirror), atol=1e-5,
                                   rtol=1e-4)


def test_trainer_starts_equivariant_for_the_runs_group():
    from eqlab.train import TrainConfig
    from eqlab.train.loop import Trainer

    config = TrainConfig.from_dict(dict(problem=dict(task="denoise", patch_size=16, batch_size=2),
                                        net=dict(features=16, depth=4, weight_init="equivariant"),
                                        method=dict(arm="eqreg", group="D4"), optim=dict(steps=1)))
    model, group = Trainer(config, progress=False).model.eval(), D4()
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        for element in group.elements():
            torch.testing.assert_close(model(group.rotate(x, element)), group.rotate(model(x), element), atol=1e-5,
                                       rtol=1e-4)
