"""Degradations ``x = D(y)`` that turn clean images ``y`` into network inputs ``x``.

What is here, one small dataclass per operator, each called as ``D(y, generator=None) -> x``:
    - ``GaussianNoise(sigma)``: additive white Gaussian noise (denoising).
    - ``BicubicDown(scale)``: bicubic down-scaling (super-resolution), with ``bicubic_up`` as the
      classical baseline.
    - ``GaussianBlur(sigma_px, noise_sigma)``, ``MotionBlur(length, angle_deg, noise_sigma)``:
      blur plus optional noise (deblurring); ``RandomMotionBlur(length)``: a direction per image.
    - ``Chain(operators)``: several operators, one after the other (a task's degradation).
    - ``DEGRADATIONS`` (name -> class) and ``get_degradation(name, **params)`` for configs and CLIs.

Sampling is separate from applying: ``D.draw(shape, generator)`` draws the random part (the noise,
the blur directions; ``None`` when there is none) and ``D.apply(y, drawn)`` is deterministic, so
the training pipeline draws in the training process and degrades in its workers;
``D(y, generator)`` is ``D.apply(y, D.draw(y.shape, generator))``. Every operator also has
``deterministic()`` (the same operator without its noise, used by ``eqlab.data.commute``) and
``scale`` (how much it shrinks the image: 1, or the SR factor).

What is not here: the kernels (``eqlab.data.kernels``) and the commutation check
(``eqlab.data.commute``).

Convention:
    - ``y``: ``(B, C, H, W)`` or ``(C, H, W)`` in ``[0, 1]``; the output has the same rank.
    - Noise levels ``sigma`` / ``noise_sigma`` are on the 0-255 scale (the literature's
      "sigma = 25"); the noise added to ``[0, 1]`` images has standard deviation ``sigma / 255``.
    - Noise is drawn with ``torch.randn(..., generator=generator)`` on the generator's device
      and moved to the image's; the same generator state gives the same noise.
      ``generator=None`` uses torch's global generator.
    - Noisy outputs are not clipped unless ``clip=True`` (clipping would bias the noise near 0 and
      1; the denoising literature trains on unclipped noise).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from eqlab.data.kernels import filter2d, gaussian_kernel, motion_kernel

__all__ = [
    "GaussianNoise", "BicubicDown", "bicubic_up", "GaussianBlur", "MotionBlur", "RandomMotionBlur", "Chain",
    "DEGRADATIONS", "get_degradation",
]


def _as_batch(y: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() == 3:
        return y[None], True
    if y.dim() != 4:
        raise ValueError(f"y must be (B, C, H, W) or (C, H, W), got shape {tuple(y.shape)}")
    return y, False


def _check_level(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")


def _draw_noise(shape: tuple, sigma: float, generator: torch.Generator | None, device, dtype) -> torch.Tensor | None:
    """Standard normal noise of ``shape`` when ``sigma > 0``, else ``None``.

    Drawn on the generator's device (else ``device``, else the CPU) and moved when applied: a CPU
    generator also serves CUDA batches and gives the same noise on every device.
    """
    if sigma <= 0:
        return None
    device = generator.device if generator is not None else (device or "cpu")
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


def _add_noise(x: torch.Tensor, sigma: float, noise: torch.Tensor | None, clip: bool) -> torch.Tensor:
    if noise is not None:
        x = x + (sigma / 255.0) * noise.to(x.device)
    return x.clamp(0.0, 1.0) if clip else x


class _Operator:
    """What every operator shares: ``__call__`` is ``apply(y, draw(y.shape, generator))``, on a batch."""

    scale: ClassVar[int] = 1

    def draw(self, shape: tuple[int, int, int, int], generator: torch.Generator | None = None, device=None,
             dtype: torch.dtype = torch.float32):
        """The random part for clean images of ``shape`` ``(B, C, H, W)``; ``None`` when there is none."""
        return None

    def apply(self, y: torch.Tensor, drawn=None) -> torch.Tensor:
        """``y: (B, C, H, W)`` -> ``x``, with the random part ``drawn`` by :meth:`draw`."""
        raise NotImplementedError

    def output_shape(self, shape: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The shape of ``x`` for clean images of ``shape``."""
        b, c, h, w = shape
        return b, c, h // self.scale, w // self.scale

    def __call__(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``y: (B, C, H, W)`` or ``(C, H, W)`` -> ``x`` of the same rank (see the class)."""
        batch, squeeze = _as_batch(y)
        x = self.apply(batch, self.draw(tuple(batch.shape), generator, device=batch.device, dtype=batch.dtype))
        return x[0] if squeeze else x


@dataclass(frozen=True)
class GaussianNoise(_Operator):
    """Additive white Gaussian noise: ``x = y + (sigma / 255) n``, ``n ~ N(0, I)``.

    Example:
        >>> D = GaussianNoise(25)
        >>> x = D(torch.zeros(1, 1, 8, 8), generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([1, 1, 8, 8])
    """

    sigma: float = 25.0  # noise standard deviation on the 0-255 scale
    clip: bool = False  # clamp the noisy image to [0, 1]
    scale: ClassVar[int] = 1  # output size = input size

    def __post_init__(self) -> None:
        _check_level(self.sigma, "sigma")

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor | None:
        """``(B, C, H, W)`` standard normal noise, or ``None`` for ``sigma = 0``."""
        return _draw_noise(shape, self.sigma, generator, device, dtype)

    def apply(self, y: torch.Tensor, drawn: torch.Tensor | None = None) -> torch.Tensor:
        """``y + (sigma / 255) drawn``: noisy ``x`` of the same shape."""
        return _add_noise(y, self.sigma, drawn, self.clip)

    def deterministic(self) -> GaussianNoise:
        """The noise-free part: the identity (``sigma = 0``)."""
        return dataclasses.replace(self, sigma=0.0)


@dataclass(frozen=True)
class BicubicDown(_Operator):
    """Bicubic down-scaling by an integer factor, anti-aliased (like MATLAB's ``imresize``).

    Uses ``F.interpolate(mode="bicubic", antialias=True, align_corners=False)`` to size
    ``(H / scale, W / scale)``. ``scale`` must divide ``H`` and ``W`` (crop first with
    ``eqlab.data.patches.crop_to_multiple``) so that ``bicubic_up`` returns the original size.

    Example:
        >>> BicubicDown(2)(torch.rand(1, 3, 8, 12)).shape
        torch.Size([1, 3, 4, 6])
    """

    scale: int = 2  # down-scaling factor, one of 2, 3, 4
    clip: bool = True  # clamp bicubic overshoot to [0, 1], as saving to 8 bits would

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale!r}")

    def apply(self, y: torch.Tensor, drawn=None) -> torch.Tensor:
        """``y: (B, C, H, W)`` -> ``x: (B, C, H / scale, W / scale)``; no randomness."""
        batch, squeeze = _as_batch(y)
        h, w = batch.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(
                f"scale {self.scale} must divide height and width, got shape {tuple(y.shape)}; "
                f"use crop_to_multiple(y, {self.scale})"
            )
        x = F.interpolate(
            batch, size=(h // self.scale, w // self.scale), mode="bicubic", antialias=True, align_corners=False
        )
        x = x.clamp(0.0, 1.0) if self.clip else x
        return x[0] if squeeze else x

    def deterministic(self) -> BicubicDown:
        """Itself: bicubic down-scaling has no noise."""
        return self


def bicubic_up(x: torch.Tensor, scale: int, clip: bool = True) -> torch.Tensor:
    """Bicubic up-scaling, the classical super-resolution baseline.

    Args:
        x: ``(B, C, h, w)`` or ``(C, h, w)`` low-resolution image in ``[0, 1]``.
        scale: integer factor ``>= 1``.
        clip: clamp the overshoot of the cubic kernel to ``[0, 1]``.

    Returns:
        ``(B, C, h * scale, w * scale)`` (or without ``B``).

    Example:
        >>> bicubic_up(torch.rand(1, 1, 4, 6), 2).shape
        torch.Size([1, 1, 8, 12])
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an int >= 1, got {scale!r}")
    batch, squeeze = _as_batch(x)
    h, w = batch.shape[-2:]
    up = F.interpolate(batch, size=(h * scale, w * scale), mode="bicubic", align_corners=False)
    up = up.clamp(0.0, 1.0) if clip else up
    return up[0] if squeeze else up


class _KernelBlur(_Operator):
    """What every blur shares: filter with ``self.kernel`` (reflect padding), then add noise."""

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor | None:
        """``(B, C, H, W)`` standard normal noise, or ``None`` for ``noise_sigma = 0``."""
        return _draw_noise(shape, self.noise_sigma, generator, device, dtype)

    def apply(self, y: torch.Tensor, drawn: torch.Tensor | None = None) -> torch.Tensor:
        """``y: (B, C, H, W)`` -> blurred, noisy ``x`` of the same shape."""
        return _add_noise(filter2d(y, self.kernel), self.noise_sigma, drawn, self.clip)

    def deterministic(self):
        """The same blur without noise."""
        return dataclasses.replace(self, noise_sigma=0.0)


@dataclass(frozen=True)
class GaussianBlur(_KernelBlur):
    """Isotropic Gaussian blur (reflect padding, same size), then optional Gaussian noise.

    The kernel is ``eqlab.data.kernels.gaussian_kernel(sigma_px)``; it is symmetric under the
    dihedral group, so the noise-free operator commutes exactly with C4 and D4.

    Example:
        >>> GaussianBlur(1.6)(torch.rand(1, 1, 16, 16)).shape
        torch.Size([1, 1, 16, 16])
    """

    sigma_px: float = 1.6  # blur standard deviation in pixels
    noise_sigma: float = 0.0  # noise standard deviation on the 0-255 scale, added after blurring
    clip: bool = False  # clamp the output to [0, 1]
    scale: ClassVar[int] = 1

    def __post_init__(self) -> None:
        _check_level(self.sigma_px, "sigma_px")
        _check_level(self.noise_sigma, "noise_sigma")

    @property
    def kernel(self) -> torch.Tensor:
        """``(K, K)`` blur kernel, sum 1."""
        return gaussian_kernel(self.sigma_px)



@dataclass(frozen=True)
class MotionBlur(_KernelBlur):
    """Linear motion blur along ``angle_deg`` (reflect padding, same size), then optional noise.

    The kernel is ``eqlab.data.kernels.motion_kernel(length, angle_deg)``: a 1-pixel-wide bar,
    anti-aliased, sum 1; ``angle_deg`` is counter-clockwise as displayed (0 = horizontal streaks,
    90 = vertical). The kernel is point-symmetric, so the operator commutes with the 180-degree
    rotation, but not with quarter turns: rotating the image by 90 degrees turns the blur
    direction by 90 degrees (the error depends on the image; large on textures).

    Example:
        >>> MotionBlur(9, 30.0)(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    length: float = 9.0  # bar length in pixels
    angle_deg: float = 30.0  # bar direction, counter-clockwise as displayed
    noise_sigma: float = 0.0  # noise standard deviation on the 0-255 scale, added after blurring
    clip: bool = False  # clamp the output to [0, 1]
    scale: ClassVar[int] = 1

    def __post_init__(self) -> None:
        motion_kernel(self.length, self.angle_deg)  # validates both
        _check_level(self.noise_sigma, "noise_sigma")

    @property
    def kernel(self) -> torch.Tensor:
        """``(K, K)`` blur kernel, sum 1."""
        return motion_kernel(self.length, self.angle_deg)


@dataclass(frozen=True)
class RandomMotionBlur(_Operator):
    """Motion blur along a direction drawn per image, uniform in ``[0, 180)`` degrees, then optional noise.

    A fixed direction is not a symmetry of quarter turns (``MotionBlur``); a uniformly random one makes
    the degradation rotation-symmetric in distribution.

    Example:
        >>> x = RandomMotionBlur(9)(torch.rand(2, 1, 32, 32), generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([2, 1, 32, 32])
    """

    length: float = 9.0  # bar length in pixels
    noise_sigma: float = 0.0  # noise standard deviation on the 0-255 scale, added after blurring
    clip: bool = False  # clamp the output to [0, 1]

    def __post_init__(self) -> None:
        motion_kernel(self.length, 0.0)  # validates the length
        _check_level(self.noise_sigma, "noise_sigma")

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> dict:
        """``{"angles_deg": (B,) float64 directions, "noise": (B, C, H, W) or None}``, in that order."""
        angles = torch.rand(shape[0], generator=generator, dtype=torch.float64) * 180.0
        return {"angles_deg": angles, "noise": _draw_noise(shape, self.noise_sigma, generator, device, dtype)}

    def apply(self, y: torch.Tensor, drawn: dict | None = None) -> torch.Tensor:
        """``y: (B, C, H, W)`` -> each image blurred along its own direction, then the noise."""
        if drawn is None or len(drawn["angles_deg"]) != y.shape[0]:
            raise ValueError(f"RandomMotionBlur.apply needs the directions drawn for a batch of {y.shape[0]}, "
                             f"got {drawn if drawn is None else tuple(drawn['angles_deg'].shape)}")
        angles = drawn["angles_deg"]
        x = torch.cat([filter2d(yi[None], motion_kernel(self.length, float(a))) for yi, a in zip(y, angles)])
        return _add_noise(x, self.noise_sigma, drawn["noise"], self.clip)

    def deterministic(self):
        """The same blur without noise (the directions stay random)."""
        return dataclasses.replace(self, noise_sigma=0.0)


@dataclass(frozen=True)
class Chain(_Operator):
    """Several operators applied one after the other: ``x = D_n(... D_1(y))`` (a task's degradation).

    ``draw`` draws every operator's random part in order, each for the shape it will see.

    Example:
        >>> D = Chain((BicubicDown(2), GaussianNoise(10)))
        >>> D(torch.rand(1, 1, 16, 16), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([1, 1, 8, 8])
    """

    operators: tuple = ()  # the operators, first applied first

    @property
    def scale(self) -> int:
        return math.prod(op.scale for op in self.operators)

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> list:
        """One random part per operator (``None`` where it has none)."""
        drawn = []
        for op in self.operators:
            drawn.append(op.draw(shape, generator, device=device, dtype=dtype))
            shape = op.output_shape(shape)
        return drawn

    def apply(self, y: torch.Tensor, drawn: list | None = None) -> torch.Tensor:
        drawn = [None] * len(self.operators) if drawn is None else drawn
        for op, part in zip(self.operators, drawn, strict=True):
            y = op.apply(y, part)
        return y

    def deterministic(self) -> Chain:
        """Every operator without its noise."""
        return Chain(tuple(op.deterministic() for op in self.operators))


DEGRADATIONS = {
    "noise": GaussianNoise,
    "bicubic": BicubicDown,
    "gaussian_blur": GaussianBlur,
    "motion_blur": MotionBlur,
    "random_motion_blur": RandomMotionBlur,
}


def get_degradation(name: str, **params) -> GaussianNoise | BicubicDown | GaussianBlur | MotionBlur | RandomMotionBlur:
    """Build a degradation by name, e.g. ``get_degradation("noise", sigma=25)``.

    Args:
        name: a key of ``DEGRADATIONS``: ``"noise"``, ``"bicubic"``, ``"gaussian_blur"``,
            ``"motion_blur"``.
        **params: the fields of that dataclass.

    Returns:
        The operator.

    Example:
        >>> get_degradation("bicubic", scale=3)
        BicubicDown(scale=3, clip=True)
    """
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; available: {tuple(DEGRADATIONS)}")
    cls = DEGRADATIONS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(params) - fields
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}; fields: {sorted(fields)}")
    return cls(**params)
