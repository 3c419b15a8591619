"""What every figure of ``eqlab.viz`` shares: the arm colours, figure creation, image helpers.

What is here: ``ARM_COLORS`` (one colour per experimental arm, the same in every figure), the
colour maps of features and errors, ``_figure`` (a ``Figure`` without ``pyplot``), ``_as_batch``
and ``_picture`` (tensors to one image batch and to an ``imshow`` array), ``_show`` (an image
axes without ticks) and ``_disk`` (the region comparisons keep).

What is not here: any figure (the other modules of ``eqlab.viz``) and any computation a test
should assert on (``eqlab.metrics``).
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from eqlab.arms import ARMS
from eqlab.groups import Group

# One colour per experimental arm, the same in every figure of the kit and in the app (eqlab.arms owns them).
ARM_COLORS = {name: arm.color for name, arm in ARMS.items()}
FEATURE_CMAP, ERROR_CMAP = "RdBu_r", "magma"


def figure(width: float, height: float) -> Figure:
    """A ``Figure`` of ``width`` x ``height`` inches with constrained layout; no ``pyplot``, no global state."""
    return Figure(figsize=(width, height), layout="constrained")


def arm_color(name: str, index: int) -> str:
    """The colour of arm ``name`` (``ARM_COLORS``), else a matplotlib cycle colour after the arms' own."""
    return ARM_COLORS.get(name, f"C{(index + 4) % 10}")


def categorical_cmap(n: int) -> str:
    """A qualitative colour map with enough colours for ``n`` labels where it can."""
    return "tab10" if n <= 10 else "tab20"


def as_batch(x: torch.Tensor, what: str = "x") -> torch.Tensor:
    """``(C, H, W)`` or ``(B, C, H, W)`` -> ``(1, C, H, W)`` (the first image), detached, float32, CPU."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise ValueError(f"{what} must be (C, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    return x[:1].detach().float().cpu()


def picture(x: torch.Tensor) -> np.ndarray:
    """An image tensor -> ``(H, W)`` or ``(H, W, 3)`` array in [0, 1] for ``imshow``."""
    x = as_batch(x)[0].clamp(0, 1)
    return x[0].numpy() if x.shape[0] != 3 else x.permute(1, 2, 0).numpy()


def show(ax, image: np.ndarray, title: str | None = None, **kwargs):
    """``ax.imshow`` without ticks; gray maps default to [0, 1]. Returns the ``AxesImage``."""
    kwargs.setdefault("cmap", "gray")
    if image.ndim == 2 and kwargs["cmap"] == "gray":
        kwargs.setdefault("vmin", 0.0)
        kwargs.setdefault("vmax", 1.0)
    im = ax.imshow(image, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return im


def disk(group: Group, height: int, width: int) -> torch.Tensor:
    """``(height, width)`` float weights: 1 where comparisons look (``group.mask``), 0 outside; all 1 without a mask."""
    mask = group.mask(height, width)
    return mask.float() if mask is not None else torch.ones(height, width)
