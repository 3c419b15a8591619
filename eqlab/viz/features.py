r"""A layer's feature maps under rotation: which layers can be shown, and the paper's figure 1(c).

What is here: ``feature_layers`` (the layers of a model the panels can show, with their
representations), ``field_size`` (re-exported from ``eqlab.groups``) and ``rotation_panel``
(:math:`f(g x)` next to :math:`P_g\, \mathrm{rot}_g f(x)` for one layer and one field), drawn from
``eqlab.metrics.rotation_view``, the same computation the app shows.

What is not here: the channel tables of representations (``eqlab.viz.groups``), per-layer error
bars across arms (``eqlab.viz.errors``) and the numbers themselves (``eqlab.metrics``).

Convention: images are ``(C, H, W)`` or ``(1, C, H, W)`` tensors in [0, 1], shown with row 0 at
the top, so a rotation by ``+90°`` (``group.rotate``) turns them counter-clockwise on screen.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from eqlab.groups import Group, Representation, field_size, get_group
from eqlab.metrics import relative_error, rotation_view, viewable_layers
from eqlab.viz._common import ERROR_CMAP, FEATURE_CMAP, as_batch, figure, picture, show

__all__ = ["feature_layers", "field_size", "rotation_panel"]


def feature_layers(model: nn.Module, group: Group | str = "C4") -> dict[str, Representation]:
    """The layers whose feature maps the panels can show, with their representations.

    Args:
        model: any ``nn.Module``.
        group: the group (representations depend on it).

    Returns:
        ``{module name: representation}`` in execution order (``eqlab.metrics.viewable_layers``).
    """
    selection, _ = viewable_layers(model, group)
    return {layer.name: layer.rep for layer in selection}


# -- the paper's figure 1(c) ------------------------------------------------------------------------

def rotation_panel(model: nn.Module, x: torch.Tensor, group: Group | str, element: int, layer: str,
                   field: int = 0, rep: Representation | None = None) -> Figure:
    r"""Does rotating the input rotate (and permute) one layer's feature maps?

    .. math:: f(g\cdot x) \overset{?}{=} P_g\, \mathrm{rot}_g\, f(x)

    Five rows, one column per channel of one *field* (the block of channels that ``P_g`` permutes
    among themselves: ``|G|`` channels for the regular representation, ``r**2`` for
    ``pixel_shuffle(r)``, 4 at a time for the trivial one): :math:`f(x)`,
    :math:`\mathrm{rot}_g f(x)`, :math:`P_g\,\mathrm{rot}_g f(x)` (titles say which channel each
    came from), :math:`f(g\cdot x)`, and :math:`|P_g\,\mathrm{rot}_g f(x) - f(g\cdot x)|`. A left
    column shows ``x``, ``g·x`` and the error averaged over all channels of the layer. The title
    gives the relative error (``eqlab.metrics.relative_error``) of the whole layer with and
    without ``P_g``, and of the field shown; 0 means exactly equivariant, about 1.4 unrelated.

    Feature rows share one colour scale (diverging around 0, or sequential when no value is
    negative); the error row uses the same amplitude, so a small error looks small.

    Args:
        model: any image-to-image ``nn.Module``; run in eval mode without gradients.
        x: ``(C, H, W)`` or ``(B, C, H, W)`` input (the first image is used); square for quarter
            turns.
        group: ``"C4"``, a ``Group``, ...
        element: the group element ``g`` (``0`` is the identity).
        layer: module name, e.g. ``"body.0.conv"``; see :func:`feature_layers`.
        field: which field of the layer to show, ``0 <= field < channels // field size``.
        rep: the layer's representation; default: the model's own (``equivariance_reps``), else
            ``Regular()``.

    Returns:
        a ``Figure`` with ``5 * n + 3`` image axes (``n`` the field size) and two colorbars.

    Raises:
        ValueError: unknown layer (the message lists the valid ones), field out of range, or a
            non-square ``x`` for a quarter turn.

    Example:
        >>> from eqlab.models import build
        >>> fig = rotation_panel(build("dncnn_p4", fields=2, depth=3), torch.rand(1, 1, 16, 16), "C4", 1, "head")
    """
    group = get_group(group)
    x = as_batch(x)
    device = next(iter(model.parameters()), torch.empty(0)).device
    view = rotation_view(model, x.to(device), group, element, layer, rep)
    y, spatial, shifted, z = (t.cpu() for t in (view.features, view.rotated, view.shifted, view.rotated_input))
    index, channels = view.index.cpu(), view.features.shape[1]
    size = field_size(view.layer.rep, group, channels)
    fields = math.ceil(channels / size)
    if isinstance(field, bool) or not isinstance(field, int) or not 0 <= field < fields:
        raise ValueError(f"field must be an int in range({fields}) for layer {layer!r} "
                         f"({channels} channels in fields of {size}), got {field!r}")
    cols = list(range(field * size, min(channels, (field + 1) * size)))
    mask = view.mask.cpu() if view.mask is not None else None
    e_field = relative_error(shifted[:, cols], z[:, cols], mask)
    diff = view.difference.cpu()  # (1, C, h, w)
    gx = group.rotate(x, element)

    n = len(cols)
    fig = figure(1.9 * (n + 1) + 1.2, 1.75 * 5 + 1.0)
    grid = fig.add_gridspec(5, n + 1)
    values = torch.cat([y[0, cols].flatten(), z[0, cols].flatten()])
    amp = float(values.abs().max()) or 1.0
    if bool((values < 0).any()):  # conv outputs have signs: diverging around 0
        feature_style = dict(cmap=FEATURE_CMAP, vmin=-amp, vmax=amp)
    else:  # e.g. image-valued sub-pixels: a sequential map reads better
        feature_style = dict(cmap="viridis", vmin=0.0, vmax=amp)
    rows = [(y, r"$f(x)$"), (spatial, r"$\mathrm{rot}_g\,f(x)$"), (shifted, r"$P_g\,\mathrm{rot}_g\,f(x)$"),
            (z, r"$f(g\cdot x)$"), (diff, r"$|P_g\,\mathrm{rot}_g f(x) - f(g\cdot x)|$")]
    feature_axes, error_axes = [], []
    for r, (maps, label) in enumerate(rows):
        for j, c in enumerate(cols):
            ax = fig.add_subplot(grid[r, j + 1])
            if r == 4:
                im_err = show(ax, maps[0, c].numpy(), cmap=ERROR_CMAP, vmin=0.0, vmax=amp)
                error_axes.append(ax)
            else:
                im_feat = show(ax, maps[0, c].numpy(), **feature_style)
                feature_axes.append(ax)
            if r == 0:
                ax.set_title(f"channel {c}", fontsize=9)
            elif r == 2:
                ax.set_title(f"from channel {int(index[c])}", fontsize=8)
            if j == 0:
                ax.set_ylabel(label, fontsize=10)
    show(fig.add_subplot(grid[0, 0]), picture(x), "input $x$")
    turn = group.describe(element).replace("rot ", "rotate ")
    show(fig.add_subplot(grid[3, 0]), picture(gx), f"$g\\cdot x$ ({turn})")
    ax = fig.add_subplot(grid[4, 0])
    show(ax, diff[0].mean(0).numpy(), "all channels (mean)", cmap=ERROR_CMAP, vmin=0.0, vmax=amp)
    for r, text in ((1, "rotate each map\nby $g$  ↓"), (2, "permute channels\nwith $P_g$  ↓")):
        ax = fig.add_subplot(grid[r, 0])
        ax.axis("off")
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, transform=ax.transAxes)
    fig.colorbar(im_feat, ax=feature_axes, shrink=0.6, label="feature value")
    fig.colorbar(im_err, ax=error_axes, shrink=0.9, label="|difference|")
    fig.suptitle(f"{type(model).__name__} · layer '{view.layer.name}' ({view.layer.rep.name}) · field {field} "
                 f"· g = {group.describe(element)} of {group.name}\n"
                 f"relative error, whole layer: with $P_g$ {view.with_shift:.3g}, without {view.without:.3g}"
                 f"  ·  this field: {e_field:.3g}", fontsize=11)
    return fig
