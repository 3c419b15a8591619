"""Image quality: PSNR and SSIM with the conventions restoration papers use.

Images are in [0, 1]; RGB is compared on the Y channel of ITU-R BT.601 (as MATLAB's
``rgb2ycbcr``) by default, on all three channels with ``y_channel=False``; an optional border is
cropped (SR papers crop ``scale`` pixels). SSIM is scikit-image's (11 x 11 Gaussian window, sigma
1.5, 'valid' positions only, the constants of Wang et al. 2004), not a copy of it. Both are
computed in float64. With ``crop_border=scale`` and the default ``y_channel=True`` they are the
numbers of BasicSR's ``calculate_psnr`` / ``calculate_ssim`` with ``test_y_channel=True`` (the
table of every SR paper; ``tests/test_metrics.py`` checks them against a transcription).

What is not here: equivariance (``eqlab.metrics.equivariance``), scoring a net on a task
(``eqlab.tasks.evaluate``).
"""

from __future__ import annotations

import numpy as np
import torch

from eqlab.checks import check_int, check_number

__all__ = ["psnr", "ssim", "rgb_to_y", "to_8bit", "check_images"]


def check_images(t, what: str = "x") -> None:
    """Raise unless ``t`` is a non-empty, finite, floating-point ``(B, C, H, W)`` tensor.

    A metric of an empty batch, of NaN pixels or of 8-bit integers (0-255 read as [0, 1]) would be a
    number that means nothing; each is refused with what was received.

    Raises:
        TypeError: not a tensor, or not a floating-point dtype (convert ``uint8`` with ``x.float() / 255``).
        ValueError: not 4-D, empty, or holding NaN or infinite values.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor of values in [0, 1], got dtype {t.dtype} "
                        "(8-bit images: x.float() / 255)")
    if t.dim() != 4:
        raise ValueError(f"{what} must be (B, C, H, W), got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{what} is empty: shape {tuple(t.shape)}")
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"{what} holds {bad} non-finite value(s) (NaN or infinite) of {t.numel()}, "
                         f"e.g. {t[~finite].flatten()[0].item()}")


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    check_images(x, "x")
    check_images(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def to_8bit(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to the 256 levels of an 8-bit image, staying a float tensor.

    What BasicSR's ``tensor2img`` does to a net's output before ``calculate_psnr`` (clamp, x 255,
    round, uint8): scores of rounded outputs are the numbers its tables hold. ``eqlab.tasks.evaluate``
    rounds every restored image this way; the references are left as read.

    Args:
        x: ``(..., H, W)`` images on the [0, 1] scale.

    Example:
        >>> to_8bit(torch.tensor([-0.1, 0.5, 0.50197, 2.0])).mul(255).tolist()
        [0.0, 128.0, 128.0, 255.0]
    """
    return x.clamp(0.0, 1.0).mul(255.0).round().div(255.0)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Luma of ITU-R BT.601 in [16/255, 235/255], as MATLAB's ``rgb2ycbcr``.

    Args:
        x: ``(B, 3, H, W)`` RGB in [0, 1].

    Returns:
        ``(B, 1, H, W)``.
    """
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True) / 255.0 + 16.0 / 255.0


def _prepare(x, y, crop_border, y_channel, data_range):
    _check_pair(x, y)
    check_number("data_range", data_range, 0, open_low=True)
    check_int("crop_border", crop_border, 0)
    x, y = x.detach().double(), y.detach().double()  # float64, as BasicSR: 1e-6 dB, not 1e-4
    if y_channel and x.shape[1] == 3:
        x, y = rgb_to_y(x), rgb_to_y(y)
    if crop_border:
        if 2 * crop_border >= min(x.shape[-2:]):
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {tuple(x.shape[-2:])} image")
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    return x, y


def _reduce(values: torch.Tensor, reduction: str):
    if reduction == "mean":
        return float(values.mean())
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, crop_border: int = 0,
         y_channel: bool = True, reduction: str = "mean"):
    """Peak signal-to-noise ratio in dB, per image then averaged.

    Args:
        x: ``(B, C, H, W)`` restored images in [0, 1] (not clipped here; clip first if you want).
        y: ``(B, C, H, W)`` references.
        data_range: peak value, a finite number > 0.
        crop_border: pixels dropped on each side (SR papers crop ``scale``).
        y_channel: for RGB, compare the BT.601 luma only.
        reduction: ``"mean"`` -> float, ``"none"`` -> ``(B,)`` tensor.

    Raises:
        TypeError: a non-tensor or an integer dtype (``uint8``: divide by 255 first).
        ValueError: shapes that differ or are not 4-D, an empty batch, NaN or infinite pixels, ``data_range``
            not a finite number > 0, a negative ``crop_border`` or one that leaves nothing.

    Example:
        >>> y = torch.zeros(1, 1, 8, 8)
        >>> round(psnr(y + 0.1, y), 2)
        20.0
    """
    x, y = _prepare(x, y, crop_border, y_channel, data_range)
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return _reduce(10 * torch.log10(data_range**2 / mse), reduction)  # identical images: inf, as BasicSR


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, crop_border: int = 0,
         y_channel: bool = True, reduction: str = "mean"):
    """Structural similarity (scikit-image: Gaussian window sigma 1.5, no sample covariance).

    Args, Returns and Raises: as :func:`psnr`; channels other than the Y channel are averaged.
    """
    from skimage.metrics import structural_similarity  # the reference implementation, not a copy

    x, y = _prepare(x, y, crop_border, y_channel, data_range)
    values = []
    for xi, yi in zip(x.cpu().numpy(), y.cpu().numpy()):
        values.append(np.mean([
            structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
            for a, b in zip(xi, yi)
        ]))
    return _reduce(torch.tensor(values, dtype=torch.float64), reduction)
