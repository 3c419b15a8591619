r"""Synthetic images with a symmetry knob: from isotropic texture to streaks along one direction.

Strict rotation equivariance is the right prior when image statistics do not depend on
orientation, and a wrong one when they do. ``orientation_bias`` lets a user dial that in and
*see* when a strict P4 net hurts and when the soft EQ-Reg helps.

What is here:
    - ``oriented_image(size, orientation_bias, generator)``: random texture whose spectral energy
      is a mixture of all directions and one preferred direction.
    - ``smooth_image(size, generator)``: a smooth random image (denoising sanity checks).
    - ``synthetic_set(n, size, orientation_bias, generator)``: a list of ``oriented_image``.
    - ``orientation_coherence(x)`` / ``dominant_orientation_deg(x)``: what the knob controls,
      measured from the image-wide structure tensor.

What is not here: natural images (``eqlab.data.images``, ``eqlab.data.folder``).

The knob: the images are Gaussian random fields, white noise filtered in the Fourier domain by
an amplitude ``R(f) * sqrt(P(phi))``. ``R(f) = 1 / max(f, 4 / size)`` is the ``1/f`` spectrum
of natural images (no DC). ``P`` distributes energy over the stripe direction ``phi``:

.. math::

    P(\phi) = (1 - b) + b \, \frac{\exp(\kappa (\cos 2(\phi - \phi_0) - 1))}{e^{-\kappa} I_0(\kappa)}

Both terms have mean 1 over directions, so a fraction ``b = orientation_bias`` of the expected
energy lies in a narrow cone (angular standard deviation ``spread_deg``, ``kappa = 1 / (4
spread^2)``) around the preferred stripe direction ``phi_0 = angle_deg``, and ``1 - b`` is spread
evenly over all directions. ``b = 0``: isotropic cloudy texture, the same in distribution under
every rotation. ``b = 1``: streaks along ``angle_deg`` (0 = horizontal, counter-clockwise as
displayed). The field is periodic and rescaled to span ``[0, 1]`` exactly.
"""

from __future__ import annotations

import math

import torch

from eqlab.data.kernels import filter2d, gaussian_kernel

__all__ = [
    "oriented_image", "smooth_image", "synthetic_set", "orientation_coherence", "dominant_orientation_deg",
]


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 8 for s in hw):
        raise ValueError(f"size must be an int >= 8 or a pair (H, W) of them, got {size!r}")
    return hw


def _frequencies(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Radius ``|f|`` (cycles per pixel) and stripe direction ``phi`` (radians) of each FFT bin."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None].expand(h, w)
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :].expand(h, w)
    radius = torch.sqrt(fx**2 + fy**2)
    # The wave vector (fx, -fy) is measured with y up; stripes run perpendicular to it.
    phi = torch.atan2(-fy, fx) + math.pi / 2
    return radius, phi


def _field(amplitude: torch.Tensor, channels: int, generator: torch.Generator | None) -> torch.Tensor:
    """Filter white noise by ``amplitude (H, W)`` and rescale each image to span ``[0, 1]``."""
    h, w = amplitude.shape
    noise = torch.randn(channels, h, w, generator=generator, dtype=torch.float64)
    z = torch.fft.ifft2(torch.fft.fft2(noise) * amplitude).real  # (C, H, W); amplitude(f) = amplitude(-f)
    z = (z - z.min()) / (z.max() - z.min()).clamp_min(1e-12)
    return z.float()


def oriented_image(
    size: int | tuple[int, int],
    orientation_bias: float,
    generator: torch.Generator | None = None,
    angle_deg: float = 0.0,
    channels: int = 1,
    spread_deg: float = 6.0,
) -> torch.Tensor:
    """Random texture whose orientation is controlled by ``orientation_bias``.

    Args:
        size: ``H = W = size`` or a pair ``(H, W)``, each ``>= 8``.
        orientation_bias: ``b`` in ``[0, 1]``: the fraction of spectral energy concentrated
            around ``angle_deg`` (0 isotropic, 1 streaks); see the module docstring.
        generator: random generator for the white noise.
        angle_deg: preferred stripe direction, counter-clockwise as displayed (0 = horizontal).
        channels: number of channels, each an independent field with the same spectrum.
        spread_deg: angular standard deviation of the oriented component, in degrees.

    Returns:
        ``(channels, H, W)`` float32 tensor spanning ``[0, 1]``.

    Example:
        >>> x = oriented_image(64, 1.0, generator=torch.Generator().manual_seed(0))
        >>> x.shape, float(orientation_coherence(x)) > 0.5
        (torch.Size([1, 64, 64]), True)
    """
    h, w = _size(size)
    b = orientation_bias
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0.0 <= b <= 1.0:
        raise ValueError(f"orientation_bias must be a number in [0, 1], got {b!r}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an int >= 1, got {channels!r}")
    if not isinstance(spread_deg, (int, float)) or not spread_deg > 0:
        raise ValueError(f"spread_deg must be a number > 0, got {spread_deg!r}")
    radius, phi = _frequencies(h, w)
    kappa = torch.tensor(1.0 / (4.0 * math.radians(spread_deg) ** 2), dtype=torch.float64)
    cone = torch.exp(kappa * (torch.cos(2 * (phi - math.radians(angle_deg))) - 1)) / torch.special.i0e(kappa)
    power = (1.0 - b) + b * cone  # mean 1 over directions
    amplitude = torch.sqrt(power) / radius.clamp_min(4.0 / max(h, w))
    amplitude[0, 0] = 0.0  # no DC: the mean is set by the rescaling
    return _field(amplitude, channels, generator)


def smooth_image(
    size: int | tuple[int, int],
    generator: torch.Generator | None = None,
    channels: int = 1,
    cycles: float = 3.0,
) -> torch.Tensor:
    """A smooth random image: white noise low-passed by a Gaussian of ``cycles`` per image.

    Nearly all energy is below ``2 * cycles`` cycles per image, so a plain smoothing filter
    restores it well: a sanity target for denoisers.

    Args:
        size: ``H = W = size`` or a pair ``(H, W)``, each ``>= 8``.
        generator: random generator for the white noise.
        channels: number of independent channels.
        cycles: standard deviation of the Gaussian spectrum, in cycles per image (long side).

    Returns:
        ``(channels, H, W)`` float32 tensor spanning ``[0, 1]``.

    Example:
        >>> smooth_image(32, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([1, 32, 32])
    """
    h, w = _size(size)
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an int >= 1, got {channels!r}")
    if not isinstance(cycles, (int, float)) or not cycles > 0:
        raise ValueError(f"cycles must be a number > 0, got {cycles!r}")
    radius, _ = _frequencies(h, w)
    amplitude = torch.exp(-0.5 * (radius * max(h, w) / cycles) ** 2)
    amplitude[0, 0] = 0.0
    return _field(amplitude, channels, generator)


def synthetic_set(
    n: int,
    size: int | tuple[int, int],
    orientation_bias: float,
    generator: torch.Generator | None = None,
    angle_deg: float = 0.0,
    channels: int = 1,
) -> list[torch.Tensor]:
    """``n`` independent ``oriented_image`` draws, e.g. a training set with a chosen symmetry.

    Args:
        n: number of images, ``>= 1``.
        size, orientation_bias, angle_deg, channels: as in ``oriented_image``.
        generator: random generator, consumed in order (the same seed gives the same list).

    Returns:
        A list of ``n`` tensors ``(channels, H, W)`` spanning ``[0, 1]``.

    Example:
        >>> len(synthetic_set(3, 32, 0.5, generator=torch.Generator().manual_seed(0)))
        3
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    return [oriented_image(size, orientation_bias, generator, angle_deg, channels) for _ in range(n)]


def _structure_tensor(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image-wide mean of ``[gx^2, gx gy; gx gy, gy^2]`` with ``y`` pointing up; each ``(B,)``."""
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or min(x.shape[-2:]) < 4:
        raise ValueError(f"x must be (C, H, W) or (B, C, H, W) with H, W >= 4, got shape {tuple(x.shape)}")
    g = x.double().mean(dim=1, keepdim=True)  # (B, 1, H, W) channel average
    # Gaussian derivatives (smooth with sigma = 1 px, then central differences): raw pixel
    # differences respond anisotropically near Nyquist and would pull angles towards 45 degrees;
    # forward differences would also share a pixel between gx and gy and correlate them.
    g = filter2d(g, gaussian_kernel(1.0, dtype=g.dtype))[:, 0]  # (B, H, W)
    gx = 0.5 * (g[:, 1:-1, 2:] - g[:, 1:-1, :-2])  # (B, H-2, W-2)
    gy = -0.5 * (g[:, 2:, 1:-1] - g[:, :-2, 1:-1])  # minus: rows grow downwards, y grows upwards
    return (gx * gx).mean((1, 2)), (gy * gy).mean((1, 2)), (gx * gy).mean((1, 2))


def orientation_coherence(x: torch.Tensor) -> torch.Tensor:
    r"""How strongly an image is oriented: coherence of its image-wide structure tensor.

    .. math::

        c = \frac{\sqrt{(J_{xx} - J_{yy})^2 + 4 J_{xy}^2}}{J_{xx} + J_{yy}}
          = \frac{\lambda_1 - \lambda_2}{\lambda_1 + \lambda_2}

    with ``J`` the mean over all pixels of the gradient outer product (channels averaged).
    ``c = 0`` when gradients point in all directions equally, ``c = 1`` for stripes along a
    single direction.

    Args:
        x: ``(C, H, W)`` image or ``(B, C, H, W)`` batch.

    Returns:
        ``(B,)`` float32 coherence in ``[0, 1]`` (``(1,)`` for a single image).

    Example:
        >>> orientation_coherence(torch.linspace(0, 1, 16).repeat(1, 16, 1)).item()  # a ramp
        1.0
    """
    jxx, jyy, jxy = _structure_tensor(x)
    c = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy).clamp_min(1e-20)
    return c.float()


def dominant_orientation_deg(x: torch.Tensor) -> torch.Tensor:
    """Direction of the stripes of an image, in degrees in ``[0, 180)``, counter-clockwise.

    The stripe direction is perpendicular to the principal gradient direction of the
    image-wide structure tensor (see ``orientation_coherence``); meaningless when the coherence
    is near 0.

    Args:
        x: ``(C, H, W)`` image or ``(B, C, H, W)`` batch.

    Returns:
        ``(B,)`` float32 angles; 0 for horizontal stripes, 90 for vertical ones.

    Example:
        >>> round(dominant_orientation_deg(torch.linspace(0, 1, 16).repeat(1, 16, 1)).item())  # a ramp
        90
    """
    jxx, jyy, jxy = _structure_tensor(x)
    gradient_deg = torch.rad2deg(0.5 * torch.atan2(2 * jxy, jxx - jyy))
    return torch.remainder(gradient_deg + 90.0, 180.0).float()
