"""Tests for eqlab.tasks: defaults, degradations, baselines, model sizes, crops."""

import dataclasses

import pytest
import torch

from eqlab.data.degrade import bicubic_up
from eqlab.models import build, names
from eqlab.tasks import TASKS, get_task, input_multiple, task_from_config


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_smoke_defaults():
    assert get_task("denoise").sigma == 25
    sr = get_task("sr")
    assert (sr.scale, sr.sigma, sr.baseline_name) == (2, 0, "bicubic")
    deblur = get_task("deblur")
    assert (deblur.blur_length, deblur.blur_angle_deg, deblur.sigma) == (9, 30, 2.55)
    for task in TASKS.values():
        assert {task.plain_model, task.strict_model} <= set(names())
        assert task.channels == 1


def test_exception():
    with pytest.raises(ValueError, match="unknown task 'inpaint'"):
        get_task("inpaint")
    with pytest.raises(ValueError, match="scale"):
        get_task("sr", scale=5)
    with pytest.raises(ValueError, match="sigma"):
        get_task("denoise", sigma=-1.0)
    with pytest.raises(ValueError, match="length"):
        get_task("deblur", blur_length=0.5)
    with pytest.raises(TypeError, match="colour"):
        get_task("denoise", colour="rgb")
    with pytest.raises(ValueError, match="scale 2 must divide"):
        get_task("sr").degrade(torch.rand(1, 1, 15, 16))


def test_overrides_and_none_keeps_default():
    assert get_task("denoise", sigma=None).sigma == 25
    assert get_task("denoise", sigma=50).sigma == 50
    assert get_task("sr", scale=4).scale == 4


@pytest.mark.parametrize("name", sorted(TASKS))
def test_degrade_is_reproducible_and_shaped(name):
    task = get_task(name)
    y = torch.rand(3, 1, 24, 24)
    x = task.degrade(y, generator=gen(1))
    assert torch.equal(x, task.degrade(y, generator=gen(1)))
    assert x.shape == (3, 1, 24 // task.scale, 24 // task.scale)
    assert task.baseline(x).shape == y.shape
    if task.sigma:
        assert not torch.equal(x, task.degrade(y, generator=gen(2)))


def test_noise_level():
    y = torch.full((4, 1, 64, 64), 0.5)
    noise = get_task("denoise").degrade(y, generator=gen()) - y
    assert abs(float(noise.std()) - 25 / 255) < 0.003


def test_sr_baseline_is_bicubic():
    task = get_task("sr")
    x = task.degrade(torch.rand(2, 1, 32, 32))
    assert torch.equal(task.baseline(x), bicubic_up(x, 2))


def test_fixed_blur_is_not_rotation_symmetric_random_blur_is_drawn_per_image():
    fixed = get_task("deblur", sigma=0)
    y = torch.rand(1, 1, 32, 32)
    rotated_then_blurred = fixed.degrade(torch.rot90(y, 1, (2, 3)))
    blurred_then_rotated = torch.rot90(fixed.degrade(y), 1, (2, 3))
    assert (rotated_then_blurred - blurred_then_rotated).abs().max() > 1e-2  # 30 degrees becomes 120
    rand = get_task("deblur", sigma=0, blur_random=True)
    x = rand.degrade(y.expand(2, 1, 32, 32), generator=gen())
    assert not torch.allclose(x[0], x[1])  # two directions


def test_model_kwargs_match_parameters():
    for name in sorted(TASKS):
        task = get_task(name)
        plain = build(task.plain_model, **task.model_kwargs(task.plain_model, features=16, depth=4, levels=2))
        strict = build(task.strict_model, **task.model_kwargs(task.strict_model, features=16, depth=4, levels=2))
        assert strict.config.get("fields") == 8
        n_plain = sum(p.numel() for p in plain.parameters())
        n_strict = sum(p.numel() for p in strict.parameters())
        assert abs(n_plain - n_strict) / n_plain < 0.15  # matched up to the small nets' biases
    assert get_task("sr", scale=3).model_kwargs("srnet", 16, 4, 2)["scale"] == 3


def test_colour_reaches_nets_and_degradation():
    """--color rgb: 3-channel nets (the strict twins too), noise drawn apart per channel, draws separable."""
    from types import SimpleNamespace

    task = get_task("denoise", mode="rgb")
    for name in (task.plain_model, task.strict_model):
        kwargs = task.model_kwargs(name, features=8, depth=3, levels=2)
        assert kwargs["channels"] == 3 and build(name, **kwargs)(torch.rand(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    x = task.degrade(torch.full((1, 3, 64, 64), 0.5), generator=gen())
    assert not torch.equal(x[:, 0], x[:, 1])
    for name, changes in (("deblur", dict(blur_random=True, mode="rgb")), ("sr", dict(sigma=5, scale=3))):
        task = get_task(name, **changes)
        y = torch.rand(2, task.channels, 24, 24, generator=gen(1))
        draws = task.draws(tuple(y.shape), gen(2))
        assert torch.equal(task.degrade(y, draws=draws), task.degrade(y, generator=gen(2)))
    config = SimpleNamespace(task="sr", color="rgb", sigma=None, scale=None, blur_length=None, blur_angle_deg=None,
                             blur_random=False)
    assert task_from_config(config).mode == "rgb" and task_from_config(config).channels == 3
    with pytest.raises(ValueError, match="--color"):
        get_task("denoise", mode="cmyk")


def test_crop():
    task = get_task("sr")
    unet = build("unet", features=8, levels=2)
    assert input_multiple(unet.config) == 4 and task.crop_multiple(unet.config) == 8
    y = torch.rand(1, 101, 77)
    assert task.crop(y, 8).shape == (1, 96, 72)
    assert task.crop(y, 8, size=64).shape == (1, 64, 64)
    with pytest.raises(ValueError, match="smaller than the required multiple"):
        task.crop(torch.rand(1, 5, 5), 8)


def test_evaluate_self_ensemble_and_per_image():
    from eqlab.tasks import evaluate

    torch.manual_seed(0)
    model = build("srnet", channels=3, features=8, depth=3, scale=2)
    images = [torch.rand(3, 24, 24, generator=gen(i)) for i in range(2)]
    task = get_task("sr", mode="rgb")
    plain = evaluate(model, task, images, per_image=True)
    averaged = evaluate(model, task, images, self_ensemble="C4")
    assert plain["output_error"] > 1e-3 and averaged["output_error"] < 1e-5  # the average is equivariant
    assert averaged["layer_error"] == pytest.approx(plain["layer_error"])  # the layers are the net's
    assert averaged["baseline_psnr"] == plain["baseline_psnr"] and averaged["psnr"] != plain["psnr"]
    assert len(plain["per_image"]) == 2 and "psnr_rgb" in plain and "per_image" not in averaged


def _degrade_as_eqlab_0_3(task, y, generator):
    """eqlab 0.3's ``Task.degrade``, written out: the reference that keeps evaluate's inputs the same."""
    from eqlab.data.degrade import BicubicDown, MotionBlur
    from eqlab.data.kernels import filter2d, motion_kernel

    b, c, h, w = y.shape
    angles = torch.rand(b, generator=generator, dtype=torch.float64) * 180.0 if task.blur_length and task.blur_random \
        else None
    noise = torch.randn((b, c, h // task.scale, w // task.scale), generator=generator) if task.sigma > 0 else None
    x = y
    if task.blur_length and not task.blur_random:
        x = MotionBlur(task.blur_length, task.blur_angle_deg)(x)
    elif task.blur_length:
        x = torch.cat([filter2d(xi[None], motion_kernel(task.blur_length, float(a))) for xi, a in zip(x, angles)])
    if task.scale != 1:
        x = BicubicDown(task.scale)(x)
    return x if noise is None else x + (task.sigma / 255.0) * noise


@pytest.mark.parametrize("name, changes", [("denoise", {}), ("sr", {}), ("deblur", {}),
                                           ("deblur", dict(blur_random=True)), ("sr", dict(sigma=10, blur_length=5)),
                                           ("denoise", dict(mode="rgb")), ("sr", dict(scale=3, sigma=5))])
def test_degradation_is_bit_identical_to_0_3(name, changes):
    """evaluate's numbers stay: the same seeds give the same degraded inputs, bit for bit."""
    task = get_task(name, **changes)
    for seed in range(3):
        y = torch.rand(3, task.channels, 36, 36, generator=gen(10 + seed))
        assert torch.equal(task.degrade(y, generator=gen(seed)), _degrade_as_eqlab_0_3(task, y, gen(seed)))


def test_a_task_is_one_entry_that_the_zoo_and_the_app_read():
    """The zoo's patch sides, the app's strength sliders and its notes come from eqlab.tasks.TASKS."""
    from eqlab import zoo

    assert TASKS is zoo.TASKS and {n: t.patch_size for n, t in TASKS.items()} == zoo.PATCH_SIZE
    for task in TASKS.values():
        slider = task.strength.slider(task)
        assert slider["minimum"] <= getattr(task, task.strength.field) == slider["value"] <= slider["maximum"]
    assert get_task("deblur").notes() and "30°" in get_task("deblur").notes()[0]
    assert get_task("deblur", blur_random=True).notes() == [] and get_task("denoise").notes() == []
    blurred_sr = get_task("sr", blur_length=5, blur_angle_deg=10)
    assert blurred_sr.notes()[0].startswith("the blur has a fixed direction (10°)")
    custom = dataclasses.replace(TASKS["denoise"], name="denoise50", sigma=50.0)  # a new task: one Task
    assert custom.strength.slider(custom)["value"] == 50.0 and custom.degradation.operators[-1].sigma == 50.0
