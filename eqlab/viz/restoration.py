r"""Restoration as pictures: outputs against the clean image, and whether a degradation commutes.

What is here: ``restoration_comparison`` (clean, degraded and restored images with PSNR / SSIM
and error maps) and ``degradation_symmetry`` (:math:`D(g x)` against :math:`g D(x)` per element).

What is not here: the scores and the commutation error (``eqlab.metrics``,
``eqlab.data.degradation_commutes``), the degradations (``eqlab.data``).

Convention: images are ``(C, H, W)`` or ``(1, C, H, W)`` tensors in [0, 1], shown with row 0 at
the top, so a rotation by ``+90°`` turns them counter-clockwise on screen.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from eqlab.groups import Group, get_group
from eqlab.metrics import psnr, ssim
from eqlab.viz._common import ERROR_CMAP, as_batch, disk, figure, picture, show

__all__ = ["restoration_comparison", "degradation_symmetry"]


def restoration_comparison(clean: torch.Tensor, degraded: torch.Tensor, outputs: Mapping[str, torch.Tensor],
                           crop_border: int = 0) -> Figure:
    """Clean, degraded and restored images, their error maps, PSNR / SSIM in the titles.

    Top row: the clean image, the degraded input and each output, all clipped to [0, 1] before they
    are shown and scored (so clipping alone earns the input no advantage over a net). Bottom row:
    ``|output - clean|`` (channel mean) on one colour scale. A degraded input of another size (the
    low-resolution input of SR) is shown stretched to the clean size, without scores.

    Args:
        clean: ``(C, H, W)`` or ``(1, C, H, W)`` reference in [0, 1].
        degraded: the network input, ``(C, h, w)`` or ``(1, C, h, w)``.
        outputs: ``{arm: (C, H, W) or (1, C, H, W) restored image}``.
        crop_border: pixels ignored on each side by the scores (SR: the scale).

    Returns:
        a ``Figure`` with ``2 * (2 + len(outputs))`` axes plus a colorbar.
    """
    clean, degraded = as_batch(clean, "clean"), as_batch(degraded, "degraded").clamp(0, 1)
    outs = {k: as_batch(v, f"outputs[{k!r}]").clamp(0, 1) for k, v in outputs.items()}
    for k, v in outs.items():
        if v.shape != clean.shape:
            raise ValueError(f"outputs[{k!r}] has shape {tuple(v.shape)}, clean has {tuple(clean.shape)}")
    columns = [("clean", clean, False)] + [("degraded input", degraded, True)] + [(k, v, True) for k, v in outs.items()]
    n = len(columns)
    fig = figure(2.6 * n + 0.8, 5.6)
    axes = fig.subplots(2, n, squeeze=False)
    errors = []
    for j, (name, image, scored) in enumerate(columns):
        same = image.shape == clean.shape
        title = name
        if scored and same:
            title += f"\nPSNR {psnr(image, clean, crop_border=crop_border):.2f} dB, " \
                     f"SSIM {ssim(image, clean, crop_border=crop_border):.3f}"
        elif not same:
            title += f"\n({image.shape[-2]}×{image.shape[-1]}, shown stretched)"
        extent = (-0.5, clean.shape[-1] - 0.5, clean.shape[-2] - 0.5, -0.5)
        show(axes[0, j], picture(image), title, extent=extent)
        if j and same:
            err = (image - clean).abs().mean(1)[0].numpy()
            errors.append((axes[1, j], err))
        else:
            axes[1, j].axis("off")
    axes[1, 0].text(0.5, 0.5, "error maps\n(brighter = worse)", ha="center", va="center", fontsize=10,
                    transform=axes[1, 0].transAxes)
    vmax = max((float(np.percentile(e, 99.5)) for _, e in errors), default=1.0) or 1.0
    im = None
    for ax, err in errors:
        im = show(ax, err, "|output − clean|", cmap="inferno", vmin=0.0, vmax=vmax)
    if im is not None:
        fig.colorbar(im, ax=[ax for ax, _ in errors], shrink=0.85, label="absolute error")
    return fig



def degradation_symmetry(degradation, group: Group | str, x: torch.Tensor, generator: torch.Generator | None = None,
                         noise: str = "off", name: str | None = None) -> Figure:
    r"""Does a degradation commute with the group? :math:`D(g x)` against :math:`g D(x)`, per element.

    One column per group element: :math:`D(g\cdot x)`, :math:`g\cdot D(x)` and their absolute
    difference (one colour scale for all elements, at least [0, 0.05] so that round-off reads black),
    and on the right the relative error per element from ``eqlab.data.degradation_commutes`` (over
    the whole batch). Isotropic blur and noise
    give zero bars; an oblique motion blur gives large ones for quarter turns.

    Args:
        degradation: a callable ``D(y, generator=None)`` from ``eqlab.data`` (``GaussianBlur``,
            ``MotionBlur``, ``GaussianNoise``, ...), with ``deterministic()`` when it is noisy.
        group: the group.
        x: ``(C, H, W)`` or ``(B, C, H, W)`` clean images in [0, 1]; the first is shown. Square for
            quarter turns.
        generator, noise: as in ``eqlab.data.degradation_commutes`` (``"off"``: the noise-free part).
        name: label for the title (default: the class name).

    Returns:
        a ``Figure`` with ``3 * group.order + 1`` axes plus a colorbar.
    """
    from eqlab.data import degradation_commutes

    group = get_group(group)
    batch = x[None] if isinstance(x, torch.Tensor) and x.dim() == 3 else x
    errors = degradation_commutes(degradation, group, batch, generator=generator, noise=noise)
    if noise == "off":
        op = degradation.deterministic() if hasattr(degradation, "deterministic") else degradation

        def apply(t):
            return op(t, generator=None)
    else:
        def apply(t):
            twin = torch.Generator(device=generator.device)
            twin.set_state(generator.get_state())
            return degradation(t, generator=twin)
    x1 = as_batch(batch)
    with torch.no_grad():
        dx = apply(x1)
        pairs = [(apply(group.rotate(x1, e)), group.rotate(dx, e)) for e in group.elements()]
    n = group.order
    fig = figure(2.0 * n + 3.6, 6.6)
    grid = fig.add_gridspec(3, n + 1, width_ratios=[1] * n + [1.6])
    amp = max(max(float((a - b).abs().max()) for a, b in pairs), 0.05)  # round-off should read black
    diff_axes = []
    for j, (e, (lhs, rhs)) in enumerate(zip(group.elements(), pairs)):
        keep = disk(group, lhs.shape[-2], lhs.shape[-1])
        show(fig.add_subplot(grid[0, j]), picture(lhs), group.describe(e))
        show(fig.add_subplot(grid[1, j]), picture(rhs))
        ax = fig.add_subplot(grid[2, j])
        im = show(ax, ((lhs - rhs).abs().mean(1)[0] * keep).numpy(), cmap=ERROR_CMAP, vmin=0.0, vmax=amp)
        diff_axes.append(ax)
    fig.axes[0].set_ylabel("$D(g\\cdot x)$")
    fig.axes[1].set_ylabel("$g\\cdot D(x)$")
    diff_axes[0].set_ylabel("$|D(g x) - g D(x)|$")
    fig.colorbar(im, ax=diff_axes, shrink=0.8, location="bottom", aspect=40)
    ax = fig.add_subplot(grid[:, n])
    values = [errors[e] for e in group.elements()]
    ax.barh(range(n), values, color=["#2ca02c" if v < 1e-4 else "#d62728" for v in values])
    ax.set_yticks(range(n), [group.describe(e) for e in group.elements()], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("$\\|D(g x) - g D(x)\\| / \\|g D(x)\\|$", fontsize=9)
    ax.set_title("commutation error", fontsize=10)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2g}", va="center", fontsize=8)
    ax.set_xlim(0, max(max(values) * 1.35, 1e-3))
    label = name or type(degradation).__name__
    fig.suptitle(f"does {label} commute with {group.name}?  (noise {noise})", fontsize=11)
    return fig
