"""The three restoration tasks of eqlab: what degrades the images, which nets restore them.

What is here: ``Task`` (a small frozen dataclass), ``get_task(name, **overrides)``, and
``evaluate(model, task, images)``, which scores a net on a task (quality against the degraded
baseline, rotated inputs, equivariance errors), or its self-ensemble (``eqlab.ensemble``).

=========  ===========================================  ================  ======================
task       degradation ``x = D(y)`` (defaults)           nets (plain, P4)  degraded baseline
=========  ===========================================  ================  ======================
denoise    Gaussian noise, sigma = 25 (0-255 scale)      dncnn, dncnn_p4   the noisy input
sr         bicubic x2 down-scaling (anti-aliased)        srnet, srnet_p4   bicubic up-scaling
deblur     motion blur, 9 px at 30 degrees, noise 2.55   unet, unet_p4     the blurred input
=========  ===========================================  ================  ======================

Every task is "motion blur (if ``blur_length > 0``), bicubic down-scaling (if ``scale > 1``), then
Gaussian noise of ``sigma``" (``sigma`` on the 0-255 scale), so ``sr`` with ``sigma > 0`` is noisy
super-resolution and ``sr`` with ``blur_length > 0`` the classical blur-down (BD) model. Images are gray
by default (``mode="gray"``, 1 channel), which keeps CPU training fast; ``mode="rgb"`` (``--color rgb``)
gives 3-channel images and nets, the degradation acting on every channel (independent noise per channel).

Symmetry of the tasks (why it matters for EQ-Reg): noise and bicubic down-scaling commute with
quarter turns, so the ideal denoiser and SR net are rotation-equivariant. A *fixed* oblique
motion blur does not: rotating a photo blurred at 30 degrees gives a photo blurred at 120
degrees, so the ideal deblurrer for the 30-degree kernel is not equivariant, and rotated
training pairs (the ``augment``, ``eqreg`` and ``strict`` arms) teach blur directions that never
occur at test time. That is the default on purpose: it is the case where a hard equivariance
constraint is expected to hurt. ``blur_random=True`` draws a new direction for every image
instead (uniform in [0, 180) degrees), which makes the task symmetric in distribution.

What is not here: the operators themselves (``eqlab.data.degrade``), the nets (``eqlab.models``),
the metrics (``eqlab.metrics``), training (``eqlab.train``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from eqlab import metrics
from eqlab.data.degrade import BicubicDown, Chain, GaussianNoise, MotionBlur, RandomMotionBlur, bicubic_up
from eqlab.data.kernels import motion_kernel
from eqlab.data.patches import center_crop, crop_to_multiple
from eqlab.ensemble import SelfEnsemble
from eqlab.groups import get_group
from eqlab.models import arguments
from eqlab.modes import evaluation

__all__ = ["Task", "Strength", "get_task", "task_from_config", "evaluate", "TASKS", "input_multiple", "EVAL_SEED"]

EVAL_SEED = 0  # noise of the test images: the same for every run, so runs compare on equal inputs


@dataclass(frozen=True)
class Strength:
    """What the app's strength slider changes for a task: one field of ``Task`` and its range.

    The slider starts at the task's own value of that field (what the nets were trained at).
    """

    field: str  # the Task field the slider sets, e.g. "sigma" or "blur_length"
    label: str  # the slider's label
    minimum: float
    maximum: float
    step: float

    def slider(self, task: Task) -> dict:
        """The slider's keyword arguments (``label``, ``minimum``, ``maximum``, ``step``, ``value``) for ``task``."""
        return dict(label=self.label, minimum=self.minimum, maximum=self.maximum, step=self.step,
                    value=getattr(task, self.field))


NOISE_STRENGTH = Strength("sigma", "Noise σ (0-255 scale)", 0, 75, 5)  # a task's slider unless it names another


@dataclass(frozen=True)
class Task:
    """A restoration task: its degradation, its two nets, its baseline, and how the kit shows it.

    Everything that names a task reads it from :data:`TASKS`: the config's and the CLI's choices, the
    zoo's recipe (``patch_size``), the app's tabs (``strength``, :meth:`notes`). A new task is one
    entry there.

    Example:
        >>> task = get_task("sr")
        >>> y = torch.rand(2, 1, 32, 32)
        >>> x = task.degrade(y, generator=torch.Generator().manual_seed(0))
        >>> x.shape, task.baseline(x).shape
        (torch.Size([2, 1, 16, 16]), torch.Size([2, 1, 32, 32]))
    """

    name: str  # "denoise", "sr" or "deblur"
    plain_model: str  # registry name of the ordinary net (the one EQ-Reg regularizes)
    strict_model: str  # registry name of its exactly C4-equivariant twin
    baseline_name: str  # what the degraded baseline is, in words
    sigma: float = 0.0  # Gaussian noise std on the 0-255 scale, added last
    scale: int = 1  # super-resolution factor (1: output size = input size)
    blur_length: float = 0.0  # motion-blur length in pixels (0: no blur)
    blur_angle_deg: float = 30.0  # motion-blur direction in degrees, counter-clockwise as displayed
    blur_random: bool = False  # draw a blur direction per image, uniform in [0, 180), instead
    mode: str = "gray"  # colour mode of the images: "gray" (1 channel) or "rgb" (3 channels)
    patch_size: int = 32  # side of the clean training patches of the zoo's recipe
    strength: Strength = NOISE_STRENGTH  # the app's strength slider: which field, its range

    def __post_init__(self) -> None:
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)) or not 0 <= self.sigma <= 255:
            raise ValueError(f"{self.name}: sigma must be a number in [0, 255] (0-255 scale), got {self.sigma!r}")
        if self.scale != 1:
            BicubicDown(self.scale)  # raises ValueError for a scale other than 2, 3, 4
        if self.blur_length:
            try:
                motion_kernel(self.blur_length, self.blur_angle_deg)  # validates both
            except ValueError as err:
                raise ValueError(f"{self.name}: blur_length / blur_angle_deg: {err}") from None
        if self.mode not in ("gray", "rgb"):
            raise ValueError(f"{self.name}: mode (--color) must be 'gray' or 'rgb', got {self.mode!r}")

    def notes(self) -> list[str]:
        """Sentences on the task's symmetry, from its fields, for whoever shows its restorations."""
        if self.blur_length and not self.blur_random:
            return [f"the blur has a fixed direction ({self.blur_angle_deg:g}°): a rotated photo is blurred along "
                    f"another direction, so here even a perfect net for {self.name} should *not* be "
                    "rotation-equivariant"]
        return []

    @property
    def channels(self) -> int:
        """Image channels: 1 for gray, 3 for RGB."""
        return 1 if self.mode == "gray" else 3

    # -- degradation -------------------------------------------------------------------------------
    @property
    def degradation(self) -> Chain:
        """The operator ``x = D(y)`` from ``eqlab.data.degrade``: motion blur (if ``blur_length``; a direction per
        image with ``blur_random``), bicubic down-scaling (if ``scale > 1``), then Gaussian noise (if ``sigma``)."""
        ops = []
        if self.blur_length:
            ops.append(RandomMotionBlur(self.blur_length) if self.blur_random
                       else MotionBlur(self.blur_length, self.blur_angle_deg))
        if self.scale != 1:
            ops.append(BicubicDown(self.scale))
        if self.sigma > 0:
            ops.append(GaussianNoise(self.sigma))
        return Chain(tuple(ops))

    def degrade(self, y: torch.Tensor, generator: torch.Generator | None = None,
                draws: list | None = None) -> torch.Tensor:
        """Network input from clean images: :attr:`degradation` applied.

        Args:
            y: ``(B, C, H, W)`` clean images in [0, 1]; ``scale`` must divide ``H`` and ``W``.
            generator: draws the noise (and random blur directions). Same state, same ``x``.
            draws: the random part drawn beforehand by :meth:`draws` (then ``generator`` is unused):
                the training pipeline draws in the training process and degrades in its workers.

        Returns:
            ``x``: ``(B, C, H / scale, W / scale)``, not clipped (noise stays unbiased).
        """
        if not isinstance(y, torch.Tensor) or y.dim() != 4:
            raise ValueError(f"{self.name}: y must be (B, C, H, W), got {getattr(y, 'shape', type(y).__name__)}")
        degradation = self.degradation
        return degradation.apply(y, self.draws(tuple(y.shape), generator) if draws is None else draws)

    def draws(self, shape: tuple[int, int, int, int], generator: torch.Generator | None = None) -> list:
        """The random part of :meth:`degrade` for clean images of ``shape``, in the order it draws them.

        Args:
            shape: ``(B, C, H, W)`` of the clean batch.
            generator: the random stream (a CPU generator: the same draws on every device).

        Returns:
            one entry per operator of :attr:`degradation` (``Chain.draw``): the blur directions, the noise
            ``(B, C, H / scale, W / scale)`` standard normal float32, ``None`` where an operator draws nothing.
        """
        return self.degradation.draw(tuple(shape), generator)

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """The classical answer without a net: ``x`` itself, or bicubic up-scaling for SR.

        Args:
            x: ``(B, C, h, w)`` degraded images.

        Returns:
            ``(B, C, h * scale, w * scale)`` clipped to [0, 1].
        """
        if self.scale != 1:
            x = bicubic_up(x, self.scale)  # eqlab.data's classical baseline (clipped)
        return x.clamp(0.0, 1.0)

    # -- models ------------------------------------------------------------------------------------
    def model_name(self, strict: bool = False, override: str | None = None) -> str:
        """The registry name of the net to train: ``override``, else the strict twin or the plain net."""
        if override:
            return override
        return self.strict_model if strict else self.plain_model

    def model_kwargs(self, name: str, features: int, depth: int, levels: int, **extra) -> dict:
        """Constructor arguments for net ``name`` at a given size.

        Only the arguments the net's constructor takes are passed (``eqlab.models.arguments``;
        nothing is built). ``features`` is the hidden width (``dim`` for attention nets); a P4
        twin gets ``fields = features // 2``, which matches the parameter count of the plain net
        (see ``eqlab.models.dncnn``). ``scale`` is passed to SR nets, ``channels`` (1 gray, 3 RGB)
        to every net. ``extra`` (e.g. ``heads``, ``stages``) is passed where taken; ``None``: the
        net's default.

        Raises:
            ValueError: unknown model name.
        """
        accepted = set(arguments(name))
        wanted = dict(channels=self.channels, features=features, dim=features, fields=max(1, features // 2),
                      depth=depth, levels=levels, scale=self.scale)
        wanted.update({k: v for k, v in extra.items() if v is not None})
        return {k: v for k, v in wanted.items() if k in accepted}

    def crop_multiple(self, model_config: dict) -> int:
        """What the side of a clean image must be divisible by: ``scale`` times the net's input multiple."""
        return self.scale * input_multiple(model_config)

    def crop(self, y: torch.Tensor, multiple: int, size: int | None = None) -> torch.Tensor:
        """Crop a clean image so that both sides are divisible by ``multiple``.

        The centre ``min(H, size) x min(W, size)`` window first (when ``size`` is given), then
        the bottom and right edges as the SR "modcrop" (``eqlab.data.patches.crop_to_multiple``).

        Args:
            y: ``(C, H, W)`` or ``(B, C, H, W)`` clean image.
            multiple: divisor of the output sides (see :meth:`crop_multiple`).
            size: optional largest side of the crop.

        Returns:
            a view of ``y``, ``(..., H', W')``.

        Raises:
            ValueError: the image is smaller than ``multiple``.
        """
        h, w = y.shape[-2:]
        if size:
            y = center_crop(y, (min(h, size), min(w, size)))
        try:
            return crop_to_multiple(y, multiple)
        except ValueError:
            raise ValueError(f"{self.name}: an image of size {h}x{w} is smaller than the required "
                             f"multiple {multiple}") from None


def input_multiple(model_config: dict) -> int:
    """What a net needs its input sides divisible by: ``2**levels`` (U-Nets), ``window`` (attention), else 1."""
    multiple = 1
    if "levels" in model_config:
        multiple = math.lcm(multiple, 2 ** int(model_config["levels"]))
    if "window" in model_config:
        multiple = math.lcm(multiple, int(model_config["window"]))
    return multiple


# The tasks of the kit: a new task is one entry here (its nets: the plain one EQ-Reg regularizes, and its
# exactly C4-equivariant twin of about the same parameter count, the paper's "EQ-CNN").
TASKS: dict[str, Task] = {
    "denoise": Task("denoise", "dncnn", "dncnn_p4", baseline_name="noisy input", sigma=25.0, patch_size=32,
                    strength=Strength("sigma", "Noise σ (0-255 scale; the models were trained at σ = 25)", 0, 75, 5)),
    "sr": Task("sr", "srnet", "srnet_p4", baseline_name="bicubic", scale=2, patch_size=48,  # 24 px inputs
               strength=Strength("sigma", "Extra noise σ on the low-resolution input (trained at 0; scale ×2)",
                                 0, 30, 1)),
    "deblur": Task("deblur", "unet", "unet_p4", baseline_name="blurred input", sigma=2.55, blur_length=9.0,
                   blur_angle_deg=30.0, patch_size=32,
                   strength=Strength("blur_length", "Motion-blur length in px (trained at 9 px, 30°)", 3, 21, 2)),
}

_OVERRIDABLE = ("sigma", "scale", "blur_length", "blur_angle_deg", "blur_random", "mode")


def task_from_config(config) -> Task:
    """The task of a config object (e.g. ``eqlab.train.TrainConfig``): ``config.task`` plus the overrides
    among its attributes ``sigma``, ``scale``, ``blur_length``, ``blur_angle_deg``, ``blur_random``, and
    ``color`` as the task's ``mode``."""
    overrides = {k: getattr(config, k, None) for k in _OVERRIDABLE if k != "mode"}
    overrides["mode"] = getattr(config, "color", None)
    overrides["blur_random"] = overrides["blur_random"] or None  # False keeps the task's default
    return get_task(config.task, **overrides)


def get_task(name: str | Task, **overrides) -> Task:
    """A task by name, with optional overrides of its degradation.

    Args:
        name: ``"denoise"``, ``"sr"`` or ``"deblur"`` (a ``Task`` passes through).
        **overrides: any of ``sigma``, ``scale``, ``blur_length``, ``blur_angle_deg``,
            ``blur_random``, ``mode``; ``None`` keeps the task's default.

    Returns:
        the ``Task``.

    Raises:
        ValueError: unknown task name, or an override out of range (e.g. ``scale=5``).
        TypeError: an unknown override.

    Example:
        >>> get_task("denoise", sigma=50).sigma
        50
    """
    task = name if isinstance(name, Task) else TASKS.get(name) if isinstance(name, str) else None
    if task is None:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    unknown = set(overrides) - set(_OVERRIDABLE)
    if unknown:
        raise TypeError(f"get_task: unknown override(s) {sorted(unknown)}; expected some of {_OVERRIDABLE}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(task, **changes)


# -- scoring a net on a task ------------------------------------------------------------------------

def evaluate(model: nn.Module, task_or_config, images: list[torch.Tensor], group="C4", rotations: bool = False,
             equivariance: bool = True, layer_crop: int = 48, self_ensemble: str | None = None,
             per_image: bool = False) -> dict:
    """Score a net on clean test images: quality, baseline, rotated inputs, equivariance.

    The one scoring function of eqlab (training validation, the zoo cards, the report, the CLI).
    Each image is cropped so its sides divide ``scale`` and the net's input multiple, degraded
    with noise seeded by ``EVAL_SEED + index`` (the same inputs for every run), restored in eval
    mode without gradients, clipped to [0, 1] and rounded to 8 bits (``metrics.to_8bit``, BasicSR's
    ``tensor2img``; the degraded baseline is not rounded). SR scores drop ``scale`` border pixels.

    Args:
        model: the net (any device; inputs follow it). A DDP wrapper is unwrapped.
        task_or_config: a ``Task``, a task name or a config with the task's fields (see
            :func:`task_from_config`).
        images: list of ``(C, H, W)`` clean images in [0, 1].
        group: the group of the equivariance errors.
        rotations: also report ``psnr_rot`` for every group element that maps the pixel grid
            onto itself (input transformed by ``g``, output transformed back by ``g^{-1}``).
        equivariance: also measure ``output_error`` and ``layer_error`` (most of the cost).
        layer_crop: side of the centre crop of each input used for the per-layer error.
        self_ensemble: ``"C2"``, ``"C4"`` or ``"D4"`` scores the net averaged over that group
            (``eqlab.ensemble.SelfEnsemble``, ``|G|`` forward passes per restoration): every
            number but ``layer_error`` (the layers are the net's) and the baseline; ``None`` or
            ``"none"``: the net itself.
        per_image: also return ``per_image``, the list of every image's numbers.

    Returns:
        a dict of floats averaged over images: ``psnr``, ``ssim``, ``baseline_psnr``,
        ``baseline_ssim`` (the degraded input, or bicubic for SR), ``psnr_rot90`` (input
        rotated a quarter turn, output rotated back), ``non_finite`` (the share of images on which the
        net's output held NaN or infinite values: their scores are NaN; anything above 0 is a broken
        net, and ``eqlab eval`` and training say so) and ``images`` (for RGB images PSNR and
        SSIM are on the BT.601 Y channel, and ``psnr_rgb`` on the three channels); with ``equivariance``
        also ``output_error`` (mean of ``metrics.output_equivariance_error`` over the
        non-identity elements, on the largest centred square) and ``layer_error``
        (``metrics.mean_layer_error``, kind ``"shift"``; NaN when the net's layers carry no
        representation of ``group``, e.g. 12 channels and D4), and which equivariance
        (``metrics.orientation_summary`` over the layers whose representation has oriented
        components, averaged over them): ``oriented_share`` (the share of the energy that carries
        orientation), ``oriented_error`` and ``invariant_error`` (each part's error) and
        ``blind_layers`` (the fraction of layers flagged orientation-blind); with ``rotations`` also
        ``psnr_rot``: ``{element: psnr}``.
    """
    task = get_task(task_or_config) if isinstance(task_or_config, (str, Task)) else task_from_config(task_or_config)
    group = get_group(group)
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper: score the net inside
    if not images:
        raise ValueError("evaluate: images is empty")
    device = next(model.parameters()).device
    multiple = task.crop_multiple(getattr(model, "config", {}))
    rows = []
    with evaluation(model), torch.no_grad():
        averaged = None if self_ensemble in (None, "none") else SelfEnsemble(model, self_ensemble)
        for index, y in enumerate(images):
            y = task.crop(y, multiple)[None]  # (1, C, H, W)
            x = task.degrade(y, generator=torch.Generator().manual_seed(EVAL_SEED + index)).to(device)
            rows.append(_score_image(model, task, group, x, y.to(device), multiple // task.scale, rotations,
                                     equivariance, layer_crop, averaged))
    result = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "psnr_rot"}
    if rotations:
        result["psnr_rot"] = {e: float(np.mean([r["psnr_rot"][e] for r in rows if e in r["psnr_rot"]]))
                              for e in rows[0]["psnr_rot"]}
    result["images"] = len(rows)
    if per_image:
        result["per_image"] = rows
    return result


def _score_image(model, task: Task, group, x, y, in_multiple: int, rotations: bool, equivariance: bool,
                 layer_crop: int, averaged: nn.Module | None = None) -> dict:
    """The per-image numbers of :func:`evaluate`; ``x``: ``(1, C, h, w)`` input, ``y``: ``(1, C, H, W)``.

    ``averaged``: the self-ensemble of ``model`` to score instead (the layer errors stay ``model``'s).
    """
    border = task.scale if task.scale > 1 else 0
    net = model if averaged is None else averaged
    broken = []  # the net gave NaN or infinite values (before the clamp, which would hide an infinity)

    def finite(out) -> bool:
        return bool(torch.isfinite(out).all())

    def restore(t):
        out = net(t)
        broken.append(not finite(out))
        return metrics.to_8bit(out)

    def psnr(out, **kwargs):  # a broken output scores NaN (reported as non_finite), not a metric's error
        return metrics.psnr(out, y, crop_border=border, **kwargs) if finite(out) else float("nan")

    def score(out):
        return psnr(out), (metrics.ssim(out, y, crop_border=border) if finite(out) else float("nan"))

    out = restore(x)
    row = dict(zip(("psnr", "ssim"), score(out)))
    if y.shape[1] == 3:  # psnr / ssim are on BT.601 Y (SR papers); colour denoising papers report RGB
        row["psnr_rgb"] = psnr(out, y_channel=False)
    row.update(zip(("baseline_psnr", "baseline_ssim"), score(task.baseline(x))))
    quarter = get_group("C4")
    row["psnr_rot90"] = psnr(quarter.rotate(restore(quarter.rotate(x, 1)), 3))
    if rotations:
        row["psnr_rot"] = {e: psnr(group.rotate(restore(group.rotate(x, e)), group.inverse(e)))
                           for e in group.elements() if group.is_exact(e)}
    row["non_finite"] = float(any(broken))
    if equivariance:
        side = min(x.shape[-2:]) // in_multiple * in_multiple
        row["output_error"] = float(np.mean(list(
            metrics.output_equivariance_error(net, task.crop(x, in_multiple, side), group).values())))
        side = min(side, max(layer_crop // in_multiple, 1) * in_multiple)
        crop = task.crop(x, in_multiple, side)
        try:
            rows = metrics.equivariance_error(model, crop, group, kinds=("shift",))
            row["layer_error"] = metrics.mean_layer_error(rows)
            layers = [r for r in metrics.orientation_summary(metrics.equivariance_components(model, crop, group))
                      if r["blind"] is not None]  # the layers whose representation has oriented components
        except ValueError:  # the layers carry no representation of the group (e.g. 12 channels and D4)
            row["layer_error"], layers = float("nan"), []
        for key in ("oriented_share", "oriented_error", "invariant_error"):
            values = [r[key] for r in layers if r[key] == r[key]]
            row[key] = float(np.mean(values)) if values else float("nan")
        row["blind_layers"] = float(np.mean([r["blind"] for r in layers])) if layers else float("nan")
    return row
