"""Tests for eqlab.models: shapes, registry, rebuild from config, equivariance of the strict twins
(at the output and at every hooked layer), non-equivariance of the plain nets, representations."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from eqlab.groups import C2, C4, C8, D4, PixelShuffle, Regular, Trivial
from eqlab.models import DnCNN, SRNet, UNet, WindowAttentionNet, bicubic_upsample, build, names
from eqlab.tasks import TASKS

# tiny widths so the whole file runs in seconds on a laptop CPU
TINY = {
    "dncnn": dict(features=8, depth=4),
    "dncnn_p4": dict(fields=4, depth=4),
    "srnet": dict(features=8, depth=4, scale=2),
    "srnet_p4": dict(fields=4, depth=4, scale=2),
    "unet": dict(features=8, levels=2),
    "unet_p4": dict(fields=4, levels=2),
    "winattn": dict(dim=16, depth=1, window=4, heads=2),
}
TASK_MODELS = {name: (task.plain_model, task.strict_model) for name, task in TASKS.items()}
STRICT = [strict for _, strict in TASK_MODELS.values()]
PLAIN = [plain for plain, _ in TASK_MODELS.values()] + ["winattn"]
SIZE = 16  # divisible by 2**levels and by the window


def _tiny(name: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return build(name, **{**TINY[name], **overrides}).eval()


def _image(size: int = SIZE, channels: int = 1, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(1))


def _capture(model: nn.Module, layers) -> tuple[dict, list]:
    """Forward hooks that keep a copy of each layer's output (clone: in-place ReLUs follow)."""
    store, handles, modules = {}, [], dict(model.named_modules())

    def keep(name):
        def hook(module, args, out):
            store[name] = out.detach().clone()

        return hook

    for name in layers:
        handles.append(modules[name].register_forward_hook(keep(name)))
    return store, handles


def _layer_errors(model: nn.Module, group, element: int, x: torch.Tensor) -> dict[str, float]:
    """Relative error ``|act(f(x)) - f(g x)| / |f(g x)|`` at every layer of ``equivariance_reps``."""
    reps = model.equivariance_reps(group)
    modules = dict(model.named_modules())
    store, handles = _capture(model, reps)
    with torch.no_grad():
        model(x)
        plain = dict(store)
        model(group.rotate(x, element))
        rotated = dict(store)
    for handle in handles:
        handle.remove()
    errors = {}
    for name, rep in reps.items():
        channel_dim = -1 if isinstance(modules[name], nn.Linear) else 1
        expected = group.act(plain[name], element, rep, channel_dim=channel_dim)
        errors[name] = float((expected - rotated[name]).norm() / rotated[name].norm().clamp_min(1e-12))
    return errors


# --------------------------------------------------------------------------------------------------
# registry and construction
# --------------------------------------------------------------------------------------------------


def test_swinir_without_spandrel_says_what_to_install():
    from eqlab.models import spandrel_available

    if spandrel_available():
        pytest.skip("spandrel is installed: tests/test_thirdparty.py trains it")
    with pytest.raises(ValueError, match="needs the optional package spandrel"):
        build("swinir")


def test_names():
    assert set(names()) == {"dncnn", "dncnn_p4", "srnet", "srnet_p4", "unet", "unet_p4", "winattn", "swinir"}
    assert names() == sorted(names())
    for plain, strict in TASK_MODELS.values():
        assert plain in names() and strict in names()


@pytest.mark.parametrize("name", sorted(TINY))
def test_smoke(name):
    model = _tiny(name)
    x = _image()
    y = model(x)
    scale = model.config.get("scale", 1)
    assert y.shape == (2, 1, SIZE * scale, SIZE * scale)
    assert model.name == name
    y.square().mean().backward()  # every model is trainable
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["srnet", "srnet_p4"])
@pytest.mark.parametrize("scale", [3, 4])
def test_sr_scales(name, scale):
    model = _tiny(name, scale=scale, channels=3)
    assert model(torch.rand(1, 3, 7, 5)).shape == (1, 3, 7 * scale, 5 * scale)


@pytest.mark.parametrize("name", sorted(TINY))
def test_rebuild_from_config(name):
    model = _tiny(name, channels=3)
    twin = build(model.name, **model.config)
    assert type(twin) is type(model) and twin.config == model.config
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    twin.load_state_dict(model.state_dict())  # strict load works


def test_exception_unknown_name():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*dncnn"):
        build("resnet")


@pytest.mark.parametrize("name", sorted(TINY))
def test_exception_wrong_channels(name):
    model = _tiny(name)
    with pytest.raises(ValueError, match=r"\(2, 3, 16, 16\)"):
        model(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(1, 16, 16\)"):
        model(torch.rand(1, 16, 16))


@pytest.mark.parametrize(("name", "shape"),
                         [("unet", (1, 1, 16, 18)), ("unet_p4", (1, 1, 14, 16)), ("winattn", (1, 1, 16, 10))])
def test_exception_spatial_size(name, shape):
    with pytest.raises(ValueError, match="divisible by 4.*" + str(shape).replace("(", r"\(").replace(")", r"\)")):
        _tiny(name)(torch.rand(*shape))


def test_exception_constructor_args():
    with pytest.raises(ValueError, match="scale must be >= 2, got 1"):
        SRNet(scale=1)
    with pytest.raises(TypeError, match="depth must be an int, got float"):
        DnCNN(depth=3.0)
    with pytest.raises(ValueError, match="dim=30, heads=4"):
        WindowAttentionNet(dim=30)


# --------------------------------------------------------------------------------------------------
# equivariance
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", STRICT)
def test_strict_output_equivariance(name, channels):
    """Gray and colour: the P4 twins lift the image's channels and project back to them."""
    model, x, group = _tiny(name, channels=channels), _image(channels=channels), C4()
    with torch.no_grad():
        y = model(x)
        for k in (1, 2, 3):
            assert (model(group.rotate(x, k)) - group.rotate(y, k)).abs().max() < 1e-5


@pytest.mark.parametrize("scale", [3, 4])
def test_strict_sr_output_equivariance_odd_size(scale):
    model, x = _tiny("srnet_p4", scale=scale), torch.rand(1, 1, 21, 21)
    with torch.no_grad():
        error = (model(x.rot90(1, (2, 3))) - model(x).rot90(1, (2, 3))).abs().max()
    assert error < 1e-5


@pytest.mark.parametrize("name", STRICT)
@pytest.mark.parametrize("group", [C4(), C2()], ids=str)
def test_strict_layer_equivariance(name, group):
    model = _tiny(name)
    for element in group.elements()[1:]:
        errors = _layer_errors(model, group, element, _image())
        assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("name", STRICT)
@pytest.mark.parametrize("group", [D4(), C8()], ids=str)
def test_strict_rejects_other_groups(name, group):
    with pytest.raises(ValueError, match=f"C4 and C2 only, got {group.name}"):
        _tiny(name).equivariance_reps(group)


@pytest.mark.parametrize("name", PLAIN)
def test_plain_not_equivariant(name):
    errors = _layer_errors(_tiny(name), C4(), 1, _image())
    assert min(errors.values()) > 0.05, errors  # every hooked layer, the image-valued one included
    assert sum(errors.values()) / len(errors) > 0.2, errors


# --------------------------------------------------------------------------------------------------
# representations
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TINY))
def test_reps_name_layers(name):
    model = _tiny(name)
    modules = dict(model.named_modules())
    reps = model.equivariance_reps(C4())
    assert set(reps) <= set(modules)
    assert all(isinstance(modules[n], (nn.Conv2d, nn.Linear)) or hasattr(modules[n], "filter_bank") for n in reps)
    last = "upsampler" if name == "srnet" else "tail"
    assert last in reps and list(reps)[-1] == last


@pytest.mark.parametrize("group", [C2(), C4(), D4(), C8()], ids=str)
def test_plain_reps(group):
    assert DnCNN(features=8, depth=3).equivariance_reps(group) == {
        "head": Regular(), "body.0.conv": Regular(), "tail": Trivial()
    }
    sr = SRNet(features=8, depth=3, scale=3).equivariance_reps(group)
    assert sr["head"] == Regular() and sr["body.0"] == Regular()
    if group.exact:
        assert sr["upsampler"] == PixelShuffle(3, Trivial())
    else:
        assert "upsampler" not in sr  # a 45-degree turn has no sub-pixel permutation
    unet = UNet(features=8, levels=1).equivariance_reps(group)
    assert unet["tail"] == Trivial() and all(rep == Regular() for n, rep in unet.items() if n != "tail")


@pytest.mark.parametrize("group", [C2(), C4(), D4()], ids=str)
@pytest.mark.parametrize(("scale", "channels"), [(2, 1), (3, 1), (2, 3), (4, 3)])
def test_pixel_shuffle_rep(group, scale, channels):
    rep = SRNet(channels=channels, features=8, depth=3, scale=scale).equivariance_reps(group)["upsampler"]
    z = torch.randn(2, channels * scale**2, 5, 5)
    for element in group.elements():
        left = F.pixel_shuffle(group.act(z, element, rep), scale)
        assert torch.equal(left, group.rotate(F.pixel_shuffle(z, scale), element))


def test_reps_exception_width():
    with pytest.raises(ValueError, match="head.*D4.*divisible by 8, got 12"):
        DnCNN(features=12, depth=3).equivariance_reps(D4())
    DnCNN(features=12, depth=3).equivariance_reps(C4())  # fine for C4
    with pytest.raises(ValueError, match="dim / heads divisible by 8.*dim=32, heads=8"):
        WindowAttentionNet(dim=32, heads=8).equivariance_reps(D4())


def test_dncnn_head_is_overwritten_in_place():
    # the case the regularizer must survive: a hook's output tensor is clipped by the next ReLU
    model = _tiny("dncnn")
    seen = {}
    model.head.register_forward_hook(lambda module, args, out: seen.setdefault("out", out))
    model(_image())
    assert seen["out"].min() >= 0  # negatives were there before the in-place ReLU ran


# --------------------------------------------------------------------------------------------------
# parameter budgets and the bicubic skip
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", sorted(TASK_MODELS))
def test_param_counts_match(task):
    plain, strict = TASK_MODELS[task]
    for kwargs in [{}, {"scale": 4}] if task == "sr" else [{}]:
        counts = [sum(p.numel() for p in build(n, **kwargs).parameters()) for n in (plain, strict)]
        assert abs(counts[0] - counts[1]) < 0.25 * max(counts), (task, kwargs, counts)


def test_bicubic_upsample_matches_torch():
    x = torch.rand(2, 3, 9, 14, dtype=torch.float64)
    for scale in (1, 2, 3, 4):
        reference = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False) if scale > 1 else x
        assert (bicubic_upsample(x, scale) - reference).abs().max() < 1e-12


@pytest.mark.parametrize("scale", [2, 3])
def test_bicubic_upsample_commutes_with_rot90(scale):
    x = torch.rand(1, 1, 96, 96)  # F.interpolate in float32 drifts to ~1e-5 here at scale 3
    y = bicubic_upsample(x, scale)
    for k in (1, 2, 3):
        assert (bicubic_upsample(x.rot90(k, (2, 3)), scale) - y.rot90(k, (2, 3))).abs().max() < 1e-6
