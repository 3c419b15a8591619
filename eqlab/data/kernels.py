"""Blur kernels and the size-preserving filtering used by the blur degradations.

What is here:
    - ``gaussian_kernel(sigma_px)``: isotropic sampled Gaussian, ``(K, K)``, sum 1.
    - ``motion_kernel(length, angle_deg)``: anti-aliased straight line, ``(K, K)``, sum 1.
    - ``filter2d(x, kernel)``: depthwise filtering with reflect padding (output keeps the size).

What is not here: noise and the degradation operators themselves (``eqlab.data.degrade``).

Convention:
    - Kernels are odd-sized and centred at ``(K // 2, K // 2)``.
    - ``angle_deg`` is counter-clockwise *as displayed* (row 0 at the top) from the horizontal:
      0 is a horizontal streak, 90 a vertical one, 30 rises to the right.
    - ``filter2d`` computes a correlation (``F.conv2d``); both kernels here are point-symmetric,
      so it equals the convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["gaussian_kernel", "motion_kernel", "filter2d", "MAX_BLUR_LENGTH"]

MAX_BLUR_LENGTH = 255  # px: a longer bar smears the whole of any image (and its kernel takes 16² samples a pixel)


def gaussian_kernel(sigma_px: float, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Isotropic Gaussian kernel, sampled at pixel centres, truncated at 3 sigma, sum 1.

    Args:
        sigma_px: standard deviation in pixels, ``>= 0`` (``0`` gives the ``(1, 1)`` identity).

    Returns:
        ``(K, K)`` tensor with ``K = 2 * ceil(3 * sigma_px) + 1``. It is exactly symmetric under
        quarter turns and mirrors (the outer product of one 1-D kernel with itself).

    Example:
        >>> gaussian_kernel(1.0).shape
        torch.Size([7, 7])
    """
    if not isinstance(sigma_px, (int, float)) or isinstance(sigma_px, bool) or sigma_px < 0:
        raise ValueError(f"sigma_px must be a number >= 0, got {sigma_px!r}")
    if sigma_px == 0:
        return torch.ones(1, 1, dtype=dtype, device=device)
    radius = math.ceil(3 * sigma_px)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 * (t / sigma_px) ** 2)
    k = torch.outer(g, g)
    return (k / k.sum()).to(dtype)


def motion_kernel(
    length: float, angle_deg: float, dtype: torch.dtype = torch.float32, device=None
) -> torch.Tensor:
    """Linear motion-blur kernel: a centred bar ``length`` pixels long and 1 pixel wide, sum 1.

    Each kernel pixel gets the area of the pixel square covered by the rotated bar, estimated
    with ``16 x 16`` sub-samples per pixel. This is the box-filtered (anti-aliased) rendering of
    the bar: an oblique or fractional-length bar gets soft edges, not a staircase, and a
    horizontal bar of integer length ``L`` is exactly ``L`` pixels of ``1 / L`` (like MATLAB's
    ``fspecial('motion')``). Written by hand because no installed library builds it in torch.

    Args:
        length: bar length in pixels, in ``[1, MAX_BLUR_LENGTH]`` (``1`` at 0 degrees is the identity).
        angle_deg: bar direction, counter-clockwise as displayed from the horizontal.

    Returns:
        ``(K, K)`` tensor, ``K`` the smallest odd size that holds the bar. It is
        point-symmetric about its centre, so correlation and convolution agree.

    Example:
        >>> k = motion_kernel(9, 30.0)
        >>> k.shape, round(float(k.sum()), 6)
        (torch.Size([9, 9]), 1.0)
    """
    if not isinstance(length, (int, float)) or isinstance(length, bool) or not 1 <= length <= MAX_BLUR_LENGTH:
        raise ValueError(f"length must be a finite number of pixels in [1, {MAX_BLUR_LENGTH}], got {length!r}")
    if not isinstance(angle_deg, (int, float)) or isinstance(angle_deg, bool) or not math.isfinite(angle_deg):
        raise ValueError(f"angle_deg must be a finite number, got {angle_deg!r}")
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    # Half extents of the bar's bounding box; pixel i covers [i - 0.5, i + 0.5].
    ext = max(abs(cos) * length / 2 + abs(sin) / 2, abs(sin) * length / 2 + abs(cos) / 2)
    radius = max(math.ceil(ext - 0.5 - 1e-9), 0)
    sub = 16
    offsets = (torch.arange(sub, dtype=torch.float64) + 0.5) / sub - 0.5  # symmetric about 0
    centres = torch.arange(-radius, radius + 1, dtype=torch.float64)
    cols = (centres[None, :, None, None] + offsets[None, None, None, :])  # (1, K, 1, s) x right
    rows = (centres[:, None, None, None] + offsets[None, None, :, None])  # (K, 1, s, 1) y down
    up = -rows  # counter-clockwise as displayed: measure y upwards
    along = cols * cos + up * sin  # (K, K, s, s) coordinate along the bar
    across = -cols * sin + up * cos
    inside = (along.abs() <= length / 2) & (across.abs() <= 0.5)
    k = inside.double().mean(dim=(-2, -1))  # (K, K) covered area per pixel
    k = 0.5 * (k + k.flip(0, 1))  # exact point symmetry despite sub-sample ties
    return (k / k.sum()).to(dtype=dtype, device=device)


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Filter every channel with the same kernel, reflect padding, output keeps the size.

    Args:
        x: ``(B, C, H, W)`` batch.
        kernel: ``(K, K)`` with odd ``K`` and ``K // 2 < min(H, W)`` (reflect padding needs it).

    Returns:
        ``(B, C, H, W)``.

    Example:
        >>> filter2d(torch.rand(1, 3, 8, 8), gaussian_kernel(1.0)).shape
        torch.Size([1, 3, 8, 8])
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be (K, K) with odd K, got shape {tuple(kernel.shape)}")
    pad = kernel.shape[0] // 2
    if pad == 0:
        return x * kernel.to(x)[0, 0]
    if pad >= min(x.shape[-2:]):
        raise ValueError(
            f"kernel of size {kernel.shape[0]} needs images larger than {pad} pixels per side "
            f"for reflect padding, got shape {tuple(x.shape)}"
        )
    c = x.shape[1]
    weight = kernel.to(x).expand(c, 1, *kernel.shape)  # (C, 1, K, K), depthwise
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, groups=c)
