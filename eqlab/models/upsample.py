"""Integer-factor upsampling that commutes with quarter turns to float round-off.

What is here: ``bicubic_upsample`` / ``BicubicUpsample``, the global skip of the SR nets.

Why not just ``F.interpolate(mode="bicubic")``: mathematically it commutes with ``rot90``
(the cubic kernel is symmetric, the grid with ``align_corners=False`` is mirror-symmetric, and
the border is replicated on both sides). In float32, though, PyTorch computes each source
coordinate as ``(i + 0.5) / s - 0.5``, whose round-off grows with ``i``: at scale 3 the rotated
and unrotated results differ by about 1e-7 per output pixel of image size (1.5e-5 at 128 px),
which would bury the exactness of a strict twin. (Scales 2 and 4 are exact in binary and
stay at ~4e-7.) Here the four cubic weights of each of the ``s`` sub-pixel phases are computed
once, in float64, mirror-exactly, and applied as a fixed separable conv. In float64 this gives
PyTorch's numbers to 1e-14; in float32 it stays within ~2e-7 of them (PyTorch's own float32 path
drifts to 1.3e-5 at 128 px, scale 3), and the rotation error stays at round-off for any size.

Convention: ``align_corners=False`` geometry, Keys cubic with ``a = -0.75`` (PyTorch's and
OpenCV's choice), replicate padding, like ``F.interpolate(x, scale_factor=s, mode="bicubic")``.
No antialiasing (it only matters for downsampling).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from .base import check_int

__all__ = ["bicubic_upsample", "BicubicUpsample"]

_A = -0.75  # Keys' cubic convolution parameter used by PyTorch and OpenCV


def _cubic(t: float) -> float:
    t = abs(t)
    if t <= 1:
        return ((_A + 2) * t - (_A + 3)) * t * t + 1
    if t < 2:
        return ((_A * t - 5 * _A) * t + 8 * _A) * t - 4 * _A
    return 0.0


@lru_cache(maxsize=16)
def _phase_taps(scale: int) -> torch.Tensor:
    """``(scale, 5)`` float64: weights of input pixels ``m-2 .. m+2`` for output ``scale*m + p``.

    Output pixel ``scale*m + p`` sits at input coordinate ``m + d_p`` with
    ``d_p = (2p + 1 - scale) / (2 scale)``; phases ``p`` and ``scale-1-p`` are exact mirrors.
    """
    taps = torch.zeros(scale, 5, dtype=torch.float64)
    for p in range(scale):
        d = (2 * p + 1 - scale) / (2 * scale)
        for j in range(-2, 3):
            taps[p, j + 2] = _cubic(j - d)
    return taps


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling by an integer factor, rows then columns.

    Args:
        x: ``(B, C, H, W)`` image batch.
        scale: integer factor ``>= 1``.

    Returns:
        ``(B, C, H * scale, W * scale)``: ``F.interpolate(x, scale_factor=scale, mode="bicubic",
        align_corners=False)`` computed without its float32 coordinate drift; commutes with
        ``torch.rot90`` to float32 round-off (~3e-7 for images in [0, 1]).

    Example:
        >>> x = torch.rand(1, 1, 8, 8)
        >>> bicubic_upsample(x, 3).shape
        torch.Size([1, 1, 24, 24])
    """
    check_int(scale, "scale")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"bicubic_upsample: expected x of shape (B, C, H, W), got {getattr(x, 'shape', type(x))}")
    if scale == 1:
        return x
    b, c, h, w = x.shape
    taps = _phase_taps(scale).to(device=x.device, dtype=x.dtype)  # (s, 5)
    y = x.reshape(b * c, 1, h, w)
    # rows: one output channel per phase, then interleave the phases along H
    y = F.conv2d(F.pad(y, (0, 0, 2, 2), mode="replicate"), taps.view(scale, 1, 5, 1))  # (BC, s, H, W)
    y = rearrange(y, "n p h w -> n 1 (h p) w")
    # columns: the same taps along W
    y = F.conv2d(F.pad(y, (2, 2, 0, 0), mode="replicate"), taps.view(scale, 1, 1, 5))  # (BC, s, sH, W)
    y = rearrange(y, "n p h w -> n 1 h (w p)")
    return y.reshape(b, c, h * scale, w * scale)


class BicubicUpsample(nn.Module):
    """Module form of :func:`bicubic_upsample`: ``(B, C, H, W) -> (B, C, sH, sW)``."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = check_int(scale, "scale")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``bicubic_upsample(x, scale)``: ``(B, C, H, W) -> (B, C, sH, sW)``."""
        return bicubic_upsample(x, self.scale)

    def extra_repr(self) -> str:
        """The scale, for ``repr(module)``."""
        return f"scale={self.scale}"
