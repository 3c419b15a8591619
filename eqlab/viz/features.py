r"""A layer's feature maps under rotation: which layers can be shown, and the paper's figure 1(c).

What is here: ``feature_layers`` (the layers of a model the panels can show, with their
representations), ``field_size`` (how many channels form one field of a representation) and
``rotation_panel`` (:math:`f(g x)` next to :math:`P_g\, \mathrm{rot}_g f(x)` for one layer and
one field), with the private helpers that pick a layer and record its output.

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

from eqlab.groups import Group, PixelShuffle, Permutation, Regular, Representation, Trivial, get_group
from eqlab.metrics import layer_features, relative_error
from eqlab.regularizer import Layer, select_layers
from eqlab.viz._common import ERROR_CMAP, FEATURE_CMAP, as_batch, disk, figure, picture, show

__all__ = ["feature_layers", "field_size", "rotation_panel"]


# -- which layers -----------------------------------------------------------------------------------

def feature_layers(model: nn.Module, group: Group | str = "C4") -> dict[str, Representation]:
    """The layers whose feature maps the panels can show, with their default representations.

    Args:
        model: any ``nn.Module``.
        group: the group (representations depend on it).

    Returns:
        ``{module name: representation}`` in module order: the model's ``equivariance_reps`` if it
        has them (``eqlab.regularizer.select_layers(..., layers="auto")``), else every conv / linear
        layer (``Regular()`` where the channels fit it, else ``Trivial()``).
    """
    group = get_group(group)
    try:
        return {layer.name: layer.rep for layer in select_layers(model, group)}
    except ValueError:
        reps = {}
        for name, module in model.named_modules():
            channels = getattr(module, "out_channels", getattr(module, "out_features", None))
            if channels is not None:
                reps[name] = Regular() if Regular().fits(group, channels) else Trivial()
        return reps


def _layer(model: nn.Module, group: Group, name: str, rep: Representation | None) -> Layer:
    """The ``Layer`` (name, representation, channel axis) for a panel; ``ValueError`` names bad names."""
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        raise ValueError(f"unknown layer {name!r} for {type(model).__name__}; "
                         f"valid layers: {list(feature_layers(model, group))}")
    if rep is None:
        rep = feature_layers(model, group).get(name)
    return select_layers(model, group, [name], {name: rep} if rep is not None else None)[0]


def _features(model: nn.Module, x: torch.Tensor, layer: Layer) -> torch.Tensor:
    """Output of one layer for ``x``, channels first ``(B, C, h, w)``, in eval mode without gradients.

    Safe to call from several threads on one model in eval mode (the Gradio app): the capture
    (``eqlab.metrics.layer_features``) keeps only this thread's forward pass, and an eval-mode
    model is not touched.
    """
    was_training = model.training
    if was_training:
        model.eval()
    try:
        with torch.no_grad():
            features, _ = layer_features(model, x, [layer.name])
    finally:
        if was_training:
            model.train()
    y = features[layer.name].float().cpu()
    return y.movedim(-1, 1) if layer.channel_dim == -1 else y


def field_size(rep: Representation, group: Group, channels: int, trivial: int = 4) -> int:
    """Channels in one *field*: the block of consecutive channels that ``rep`` maps onto itself.

    ``|G|`` for ``Regular``, ``r**2`` for ``pixel_shuffle(r)`` (times the base's field), the table
    length for ``Permutation``; the trivial representation permutes nothing, so its channels are
    shown ``trivial`` (4) at a time.
    """
    if isinstance(rep, Regular):
        return group.order
    if isinstance(rep, PixelShuffle):  # sub-pixel blocks of r**2 channels, permuted by the base rep
        return rep.factor**2 * field_size(rep.base, group, channels // rep.factor**2, trivial=1)
    if isinstance(rep, Permutation):
        return len(rep.tables[0])
    return min(channels, trivial)  # trivial (or unknown): no permutation, show 4 channels at a time


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
    if group.needs_square(element) and x.shape[-2] != x.shape[-1]:
        raise ValueError(f"{group.describe(element)} of {group.name} needs a square x, got shape {tuple(x.shape)}")
    chosen = _layer(model, group, layer, rep)
    device = next(iter(model.parameters()), torch.empty(0)).device
    gx = group.rotate(x, element)
    y = _features(model, x.to(device), chosen)  # (1, C, h, w)
    z = _features(model, gx.to(device), chosen)  # (1, C, h', w')
    channels = y.shape[1]
    spatial = group.rotate(y, element)  # rot_g f(x)
    index = chosen.rep.permutation(group, element, channels)  # (P_g y)[:, c] = y[:, index[c]]
    shifted = spatial.index_select(1, index)  # P_g rot_g f(x)
    if shifted.shape != z.shape:
        raise ValueError(f"layer {layer!r}: rotated features {tuple(shifted.shape)} do not match the features "
                         f"of the rotated input {tuple(z.shape)}; use a square x")
    size = field_size(chosen.rep, group, channels)
    fields = math.ceil(channels / size)
    if isinstance(field, bool) or not isinstance(field, int) or not 0 <= field < fields:
        raise ValueError(f"field must be an int in range({fields}) for layer {layer!r} "
                         f"({channels} channels in fields of {size}), got {field!r}")
    cols = list(range(field * size, min(channels, (field + 1) * size)))
    mask = group.mask(z.shape[-2], z.shape[-1])
    keep = disk(group, z.shape[-2], z.shape[-1])
    e_none = relative_error(spatial, z, mask)
    e_shift = relative_error(shifted, z, mask)
    e_field = relative_error(shifted[:, cols], z[:, cols], mask)
    diff = (shifted - z).abs() * keep  # (1, C, h, w)

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
    fig.suptitle(f"{type(model).__name__} · layer '{chosen.name}' ({chosen.rep.name}) · field {field} "
                 f"· g = {group.describe(element)} of {group.name}\n"
                 f"relative error, whole layer: with $P_g$ {e_shift:.3g}, without {e_none:.3g}"
                 f"  ·  this field: {e_field:.3g}", fontsize=11)
    return fig
