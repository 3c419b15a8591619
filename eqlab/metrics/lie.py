"""Equivariance to *small* rotations: a Lie-derivative estimate, per layer and at the output.

The group errors of ``eqlab.metrics.equivariance`` test whole elements (a quarter turn, 45°). The
Lie derivative (Gruver et al., "The Lie derivative for measuring learned equivariance", ICLR 2023)
tests the infinitesimal rotation: how fast ``rot_{-t} F(rot_t x)`` moves away from ``F(x)`` as the
angle ``t`` leaves 0. It is zero for a map that commutes with every rotation, and it is what a net
learns from data when the rotation is not exact:

.. math:: L_F(x) = \\frac{d}{dt}\\Big|_{t=0} \\mathrm{rot}_{-t}\\, F(\\mathrm{rot}_t\\, x)
          \\approx \\frac{\\mathrm{rot}_{-h} F(\\mathrm{rot}_h x) - \\mathrm{rot}_{h} F(\\mathrm{rot}_{-h} x)}{2h}

reported relative to the (centred) map, per radian: ``‖L_F(x)‖ / ‖F(x) − mean‖``. ``F`` is the
net up to a layer (the layers EQ-Reg reads, as ``equivariance_error`` reads them) or the whole net.
An infinitesimal rotation moves pixels and permutes no channels (C4's channel shift has no
"small" version), so a layer's channels are compared as they are.

Convention: ``h = step_deg`` degrees (counter-clockwise as displayed, about the centre), turned
with ``eqlab.groups.rotate_by_angle`` (bilinear, zero padding), in float64 on a float64 copy of the
model. The step is tiny (a pixel at radius 200 moves 0.0035 px), so that a ReLU net's pattern of
active units is the same at ``+h`` and ``-h`` (with ``h`` of one degree, a random ReLU CNN read 2.2
per radian instead of 4.8: the derivative is smeared over that change); the *central* difference cancels the
blur that bilinear resampling adds at first order in ``|h|`` (the same for ``+h`` and ``-h``), and
float64 keeps the difference of nearly equal maps exact (a model whose forward builds float32
constants of its own cannot run so). Norms run inside a disk of radius
``(1/2 − margin) × side`` of each map: the zero-padded slivers a rotation brings in at the border,
and a net's zero padding, stay outside it.

Floor: a map that commutes with every rotation in the continuum still reads a little on pixels
(the derivative is a finite difference on a grid). ``floor`` is the same measurement for an
isotropic Gaussian blur of ``FLOOR_SIGMA`` px applied to ``x`` (as ``error_vs_angle``'s floor):
a value near it is equivariance to small rotations, up to discretisation.

What is here: ``lie_derivative`` (per layer and output, with the floor), ``LIE_STEP_DEG``, ``MARGIN``.
What is not here: quarter turns and other whole elements (``equivariance_error``, ``error_vs_angle``).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from eqlab.data.kernels import filter2d, gaussian_kernel
from eqlab.groups import C4, rotate_by_angle
from eqlab.metrics.equivariance import FLOOR_SIGMA, _check_input, _evaluating, _layers, _output, layer_features

__all__ = ["lie_derivative", "LIE_STEP_DEG", "MARGIN"]

LIE_STEP_DEG = 1e-3  # degrees: h of the central difference (float64: the difference stays exact)
C4_GROUP = C4()  # the layer selection is EQ-Reg's for C4; no quarter turn is applied here
MARGIN = 0.125  # share of the side left out at the border (the disk has radius (0.5 - MARGIN) x side)


def _disk(height: int, width: int, margin: float, device) -> torch.Tensor:
    """``(H, W)`` float mask: 1 inside the centred disk of radius ``(0.5 - margin) * min(H, W)``."""
    rows = torch.arange(height, device=device, dtype=torch.float32) - (height - 1) / 2
    cols = torch.arange(width, device=device, dtype=torch.float32) - (width - 1) / 2
    radius = (0.5 - margin) * min(height, width)
    return (rows[:, None] ** 2 + cols[None, :] ** 2 <= radius**2).float()


def _relative_lie(base: torch.Tensor, plus: torch.Tensor, minus: torch.Tensor, step_deg: float,
                  margin: float) -> float:
    """``‖L_F‖ / ‖F − mean‖`` from ``F(x)``, ``F(rot_h x)``, ``F(rot_{-h} x)``, all ``(B, C, H, W)``."""
    h = math.radians(step_deg)
    derivative = (rotate_by_angle(plus.double(), -step_deg) - rotate_by_angle(minus.double(), step_deg)) / (2 * h)
    mask = _disk(base.shape[-2], base.shape[-1], margin, base.device).double()
    base = base.double()
    mean = (base * mask).sum(dim=(-2, -1), keepdim=True) / mask.sum().clamp_min(1)
    scale = ((base - mean) * mask).norm()
    return float((derivative * mask).norm() / scale.clamp_min(1e-12))


def lie_derivative(model: nn.Module, x: torch.Tensor, layers="auto", step_deg: float = LIE_STEP_DEG,
                   margin: float = MARGIN, reps=None, layouts=None) -> list[dict]:
    """Relative Lie derivative of every chosen layer and of the output, per radian, with its floor.

    Args:
        model: any image-to-image model; run in eval mode without gradients.
        x: ``(B, C, H, W)`` square inputs (a few dozen pixels of margin make the disk meaningful).
        layers, reps, layouts: which layers (``eqlab.selection.select`` for C4, as ``equivariance_error``);
            ``layers=[]`` measures the output only.
        step_deg: ``h`` of the central difference, in degrees (> 0, small).
        margin: share of each map's side left out at its border, in ``[0, 0.5)``.

    Returns:
        one dict per layer, then ``layer="output"``: ``layer, value`` (``‖L_F(x)‖ / ‖F(x) − mean‖``,
        per radian, inside the disk) and ``floor`` (the same for an isotropic Gaussian blur of
        ``FLOOR_SIGMA`` px on ``x``; one number, repeated on every row).

    Raises:
        ValueError: a non-square ``x``, ``step_deg <= 0`` or a margin outside ``[0, 0.5)``.

    Example:
        >>> from eqlab.models import build
        >>> rows = lie_derivative(build("dncnn", features=8, depth=3), torch.rand(1, 1, 32, 32))
        >>> rows[-1]["layer"], rows[-1]["value"] > rows[-1]["floor"]
        ('output', True)
    """
    _check_input(x, C4_GROUP, [])
    if x.shape[-2] != x.shape[-1]:
        raise ValueError(f"lie_derivative needs a square x, got shape {tuple(x.shape)}")
    if not step_deg > 0:
        raise ValueError(f"step_deg must be > 0, got {step_deg!r}")
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
    chosen = _layers(model, C4_GROUP, layers, reps, layouts, x) if layers != [] else []
    x = x.double()
    inputs = {"base": x, "plus": rotate_by_angle(x, step_deg), "minus": rotate_by_angle(x, -step_deg)}
    model64 = copy.deepcopy(model).double()  # float64: the central difference of nearly equal maps
    maps = {}
    with _evaluating(model64):
        for key, image in inputs.items():
            if chosen:
                features, out = layer_features(model64, image, [layer.name for layer in chosen])
                maps[key] = {layer.name: layer.layout.to_map(features[layer.name], x.shape[0], 1.0)
                             for layer in chosen}
            else:
                maps[key], out = {}, _output(model64, image)
            maps[key]["output"] = out
    kernel = gaussian_kernel(FLOOR_SIGMA, dtype=torch.float64, device=x.device)
    blurred = {key: filter2d(image, kernel) for key, image in inputs.items()}
    floor = _relative_lie(blurred["base"], blurred["plus"], blurred["minus"], step_deg, margin)
    rows = []
    for name in [layer.name for layer in chosen] + ["output"]:
        value = _relative_lie(maps["base"][name], maps["plus"][name], maps["minus"][name], step_deg, margin)
        rows.append(dict(layer=name, value=value, floor=floor))
    return rows

