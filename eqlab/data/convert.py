"""Conversions shared by the image loaders: arrays to tensors, colour modes, size limits.

What is here:
    - ``to_tensor``: a decoded ``numpy`` array (8-bit, 16-bit, bool or float; gray, gray+alpha,
      RGB or RGBA) to a float32 ``(C, H, W)`` tensor in ``[0, 1]``.
    - ``rgb_to_gray`` / ``gray_to_rgb`` / ``to_mode``: the two colour modes of eqlab.
    - ``limit_side``: area down-scaling so that the long side is at most ``max_side``.

What is not here: file IO (``eqlab.data.folder``, ``eqlab.data.images``) and degradations
(``eqlab.data.degrade``).

Convention:
    - Images are float32 tensors ``(C, H, W)`` in ``[0, 1]``, ``C = 1`` (``mode="gray"``) or
      ``C = 3`` (``mode="rgb"``). Batches are ``(B, C, H, W)``.
    - Gray is ITU-R BT.601 luma of the stored (gamma-encoded) values, without linearisation:
      ``Y = 0.299 R + 0.587 G + 0.114 B``. This is what Pillow's ``convert("L")`` and the
      Y channel of the usual restoration benchmarks use (scikit-image's ``rgb2gray`` uses the
      BT.709 weights instead, which differ by up to about 0.1 on saturated colours).
    - Alpha is composited over a white background, ``rgb * a + (1 - a)``, as scikit-image's
      ``rgba2rgb`` does by default.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MODES", "BT601", "to_tensor", "rgb_to_gray", "gray_to_rgb", "to_mode", "limit_side"]

MODES = ("gray", "rgb")
BT601 = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights for R, G, B


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is ``"gray"`` or ``"rgb"``, else raise ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """Convert a decoded image array to a float32 tensor in ``[0, 1]``, alpha composited.

    Integer arrays are scaled by the maximum of their type (``uint8`` by 255, ``uint16`` by
    65535; other integer types are read as 16-bit values and clipped). ``bool`` maps to
    ``{0, 1}``. Float arrays are taken as already in ``[0, 1]`` and clipped.

    Args:
        array: ``(H, W)`` gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)`` RGB or
            ``(H, W, 4)`` RGBA.

    Returns:
        ``(1, H, W)`` for gray inputs, ``(3, H, W)`` for colour inputs.

    Example:
        >>> to_tensor(np.full((2, 3, 4), 255, dtype=np.uint8)).shape
        torch.Size([3, 2, 3])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype == np.uint8:
        x = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        x = array.astype(np.float32) / 65535.0
    elif array.dtype == np.bool_:
        x = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        x = np.clip(array.astype(np.float32) / 65535.0, 0.0, 1.0)
    elif np.issubdtype(array.dtype, np.floating):
        x = np.clip(array.astype(np.float32), 0.0, 1.0)
    else:
        raise TypeError(f"unsupported image dtype {array.dtype}")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an (H, W), (H, W, 2), (H, W, 3) or (H, W, 4) array, got shape {array.shape}")
    if x.shape[2] in (2, 4):  # composite the last channel (alpha) over white
        alpha = x[:, :, -1:]
        x = x[:, :, :-1] * alpha + (1.0 - alpha)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))  # (C, H, W)


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` of an RGB image.

    Args:
        x: ``(..., 3, H, W)`` RGB image or batch in ``[0, 1]``.

    Returns:
        ``(..., 1, H, W)`` luma, same dtype.

    Example:
        >>> rgb_to_gray(torch.ones(3, 4, 4)).shape
        torch.Size([1, 4, 4])
    """
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"x must be (..., 3, H, W), got shape {tuple(x.shape)}")
    w = torch.tensor(BT601, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * w).sum(dim=-3, keepdim=True)


def gray_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Replicate a gray image into three equal channels: ``(..., 1, H, W) -> (..., 3, H, W)``."""
    if x.dim() < 3 or x.shape[-3] != 1:
        raise ValueError(f"x must be (..., 1, H, W), got shape {tuple(x.shape)}")
    return x.expand(*x.shape[:-3], 3, *x.shape[-2:]).contiguous()


def to_mode(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Convert a 1- or 3-channel image to ``mode`` (``"gray"`` -> 1 channel, ``"rgb"`` -> 3).

    Args:
        x: ``(..., C, H, W)`` with ``C`` in ``{1, 3}``.
        mode: ``"gray"`` (BT.601 luma) or ``"rgb"`` (gray is replicated).

    Returns:
        ``(..., 1, H, W)`` or ``(..., 3, H, W)``.
    """
    check_mode(mode)
    if x.dim() < 3 or x.shape[-3] not in (1, 3):
        raise ValueError(f"x must be (..., C, H, W) with C in (1, 3), got shape {tuple(x.shape)}")
    channels = x.shape[-3]
    if mode == "gray":
        return x if channels == 1 else rgb_to_gray(x)
    return x if channels == 3 else gray_to_rgb(x)


def limit_side(x: torch.Tensor, max_side: int | None) -> torch.Tensor:
    """Area down-scale ``x`` so that its long side is at most ``max_side`` (no-op otherwise).

    The new size is ``round(H * s), round(W * s)`` with ``s = max_side / max(H, W)``. Scaling
    uses ``F.interpolate(mode="area")`` (adaptive average pooling: each output pixel is the
    mean of the input pixels under its footprint), which does not alias and stays in ``[0, 1]``.

    Args:
        x: ``(C, H, W)`` image or ``(B, C, H, W)`` batch.
        max_side: the largest allowed side in pixels, or ``None`` for no limit.

    Returns:
        ``(C, H', W')`` or ``(B, C, H', W')``.

    Example:
        >>> limit_side(torch.rand(1, 100, 50), 40).shape
        torch.Size([1, 40, 20])
    """
    if max_side is None:
        return x
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise ValueError(f"max_side must be a positive int or None, got {max_side!r}")
    if x.dim() not in (3, 4):
        raise ValueError(f"x must be (C, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if max(h, w) <= max_side:
        return x
    s = max_side / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    batch = x if x.dim() == 4 else x[None]
    out = F.interpolate(batch, size=size, mode="area")
    return out if x.dim() == 4 else out[0]
