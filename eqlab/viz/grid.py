"""A plain grid of images or feature maps, for every picture the other figures do not draw.

What is here: ``image_grid``. What is not here: figures with a meaning of their own (the orbit of
an image is ``eqlab.viz.groups.group_orbit``, a layer's features ``eqlab.viz.features``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from eqlab.viz._common import figure, show

__all__ = ["image_grid"]


def image_grid(images, titles: Sequence[str] | None = None, ncols: int | None = None, cmap: str = "gray",
               symmetric: bool = False, colorbar: bool = False, suptitle: str | None = None,
               vrange: tuple[float, float] | None = None) -> Figure:
    """A grid of images or feature maps.

    Args:
        images: a list of ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` tensors, or an ``(N, H, W)`` /
            ``(N, C, H, W)`` tensor. Three-channel entries are shown as RGB, one-channel as maps.
        titles: one per image.
        ncols: columns (default: up to 6).
        cmap: colour map of one-channel entries.
        symmetric: one colour scale ``[-m, m]`` for all maps (features with signs); otherwise
            ``cmap="gray"`` maps are shown in [0, 1] and others on their own range.
        colorbar: add one colorbar for the grid (with ``symmetric``) or per map.
        suptitle: a title for the figure.
        vrange: ``(vmin, vmax)`` shared by all one-channel maps (overrides ``symmetric``).

    Returns:
        a ``Figure`` with one image axes per image.
    """
    if isinstance(images, torch.Tensor):
        images = list(images)
    maps = []
    for i, t in enumerate(images):
        t = torch.as_tensor(t).detach().float().cpu()
        t = t[0] if t.dim() == 4 else t
        if t.dim() == 3 and t.shape[0] == 1:
            t = t[0]
        if t.dim() not in (2, 3) or (t.dim() == 3 and t.shape[0] != 3):
            raise ValueError(f"image {i} must be (H, W), (1, H, W) or (3, H, W), got shape {tuple(t.shape)}")
        maps.append(t)
    if not maps:
        raise ValueError("images is empty")
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"got {len(titles)} titles for {len(maps)} images")
    ncols = ncols or min(len(maps), 6)
    nrows = math.ceil(len(maps) / ncols)
    fig = figure(2.2 * ncols + (0.8 if colorbar else 0), 2.3 * nrows + (0.4 if suptitle else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    amp = max(float(m.abs().max()) for m in maps) or 1.0
    for i, (ax, m) in enumerate(zip(axes, maps)):
        title = titles[i] if titles else None
        if m.dim() == 3:
            im = show(ax, m.clamp(0, 1).permute(1, 2, 0).numpy(), title)
        elif vrange is not None:
            im = show(ax, m.numpy(), title, cmap=cmap, vmin=vrange[0], vmax=vrange[1])
        elif symmetric:
            im = show(ax, m.numpy(), title, cmap=cmap, vmin=-amp, vmax=amp)
        else:
            im = show(ax, m.numpy(), title, cmap=cmap)
        if colorbar and not (symmetric or vrange):
            fig.colorbar(im, ax=ax, shrink=0.8)
    if colorbar and (symmetric or vrange):
        fig.colorbar(im, ax=list(axes[:len(maps)]), shrink=0.8)
    for ax in axes[len(maps):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig
