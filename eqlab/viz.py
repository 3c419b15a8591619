r"""Figures for eqlab: what equivariance, EQ-Reg and restoration look like.

Every function builds a ``matplotlib.figure.Figure`` directly (no ``pyplot``, no global state),
so figures can be made from several threads (the Gradio app) and never pop up by themselves. Show
one in a notebook by leaving it as the last expression of a cell; save it with ``fig.savefig``.

What is here:
    - equivariance of a net: ``rotation_panel`` (the paper's figure 1(c) from your own net:
      :math:`f(g x)` next to :math:`P_g\, \mathrm{rot}_g f(x)`), ``layer_error_bars`` (per-layer
      errors across arms), ``error_vs_angle_plot`` (arbitrary angles, interpolation floor).
    - groups and representations: ``group_orbit``, ``cayley_table``, ``channel_shift_diagram``.
    - training and restoration: ``training_curves``, ``restoration_comparison``,
      ``weight_tradeoff``, ``degradation_symmetry``.
    - ``image_grid``: a plain grid of images or maps, for everything else.
    - ``feature_layers`` and ``field_size``: the layers of a model the panels can show, and how
      many channels form one field of a representation.

What is not here: any computation a test should assert on (``eqlab.metrics``,
``eqlab.data.degradation_commutes``) and interactivity (``eqlab.widgets``).

Convention: images are ``(C, H, W)`` or ``(1, C, H, W)`` tensors in [0, 1] (gray or RGB), shown
with row 0 at the top, so a rotation by ``+90°`` turns them counter-clockwise on screen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from eqlab.groups import Group, PixelShuffle, Permutation, Regular, Representation, Trivial, get_group, pixel_shuffle
from eqlab.metrics import KINDS, psnr, relative_error, ssim
from eqlab.regularizer import Layer, select_layers

__all__ = [
    "rotation_panel", "channel_shift_diagram", "layer_error_bars", "error_vs_angle_plot", "training_curves",
    "restoration_comparison", "degradation_symmetry", "weight_tradeoff", "group_orbit", "cayley_table",
    "image_grid", "feature_layers", "field_size", "ARM_COLORS",
]

# One colour per experimental arm, the same in every figure of the kit.
ARM_COLORS = {"plain": "#7f7f7f", "augment": "#1f77b4", "eqreg": "#d62728", "strict": "#2ca02c"}
_KIND_LABELS = {"shift": "with $P_g$ (the layer's rep)", "none": "no channel permutation",
                "best": "best permutation"}
_FEATURE_CMAP, _ERROR_CMAP = "RdBu_r", "magma"


# -- small helpers ---------------------------------------------------------------------------------

def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _color(name: str, index: int) -> str:
    return ARM_COLORS.get(name, f"C{(index + 4) % 10}")


def _as_batch(x: torch.Tensor, what: str = "x") -> torch.Tensor:
    """``(C, H, W)`` or ``(B, C, H, W)`` -> ``(1, C, H, W)`` (the first image), detached, float32, CPU."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise ValueError(f"{what} must be (C, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    return x[:1].detach().float().cpu()


def _picture(x: torch.Tensor) -> np.ndarray:
    """An image tensor -> ``(H, W)`` or ``(H, W, 3)`` array in [0, 1] for ``imshow``."""
    x = _as_batch(x)[0].clamp(0, 1)
    return x[0].numpy() if x.shape[0] != 3 else x.permute(1, 2, 0).numpy()


def _show(ax, image: np.ndarray, title: str | None = None, **kwargs):
    kwargs.setdefault("cmap", "gray")
    if image.ndim == 2 and kwargs["cmap"] == "gray":
        kwargs.setdefault("vmin", 0.0)
        kwargs.setdefault("vmax", 1.0)
    im = ax.imshow(image, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return im


def _describe(group: Group, element: int) -> str:
    return group.describe(element).replace("rot ", "rotate ")


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
    """Output of one layer for ``x``, channels first ``(B, C, h, w)``, in eval mode without gradients."""
    store = {}

    def hook(module, inputs, out):
        store["y"] = out.detach().clone()  # clone: a following in-place ReLU would overwrite it

    was_training = model.training
    handle = model.get_submodule(layer.name).register_forward_hook(hook)
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
        model.train(was_training)
    y = store["y"].float().cpu()
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
    x = _as_batch(x)
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
    keep = mask.float() if mask is not None else torch.ones(z.shape[-2:])
    e_none = relative_error(spatial, z, mask)
    e_shift = relative_error(shifted, z, mask)
    e_field = relative_error(shifted[:, cols], z[:, cols], mask)
    diff = (shifted - z).abs() * keep  # (1, C, h, w)

    n = len(cols)
    fig = _figure(1.9 * (n + 1) + 1.2, 1.75 * 5 + 1.0)
    grid = fig.add_gridspec(5, n + 1)
    values = torch.cat([y[0, cols].flatten(), z[0, cols].flatten()])
    amp = float(values.abs().max()) or 1.0
    if bool((values < 0).any()):  # conv outputs have signs: diverging around 0
        feature_style = dict(cmap=_FEATURE_CMAP, vmin=-amp, vmax=amp)
    else:  # e.g. image-valued sub-pixels: a sequential map reads better
        feature_style = dict(cmap="viridis", vmin=0.0, vmax=amp)
    rows = [(y, r"$f(x)$"), (spatial, r"$\mathrm{rot}_g\,f(x)$"), (shifted, r"$P_g\,\mathrm{rot}_g\,f(x)$"),
            (z, r"$f(g\cdot x)$"), (diff, r"$|P_g\,\mathrm{rot}_g f(x) - f(g\cdot x)|$")]
    feature_axes, error_axes = [], []
    for r, (maps, label) in enumerate(rows):
        for j, c in enumerate(cols):
            ax = fig.add_subplot(grid[r, j + 1])
            if r == 4:
                im_err = _show(ax, maps[0, c].numpy(), cmap=_ERROR_CMAP, vmin=0.0, vmax=amp)
                error_axes.append(ax)
            else:
                im_feat = _show(ax, maps[0, c].numpy(), **feature_style)
                feature_axes.append(ax)
            if r == 0:
                ax.set_title(f"channel {c}", fontsize=9)
            elif r == 2:
                ax.set_title(f"from channel {int(index[c])}", fontsize=8)
            if j == 0:
                ax.set_ylabel(label, fontsize=10)
    _show(fig.add_subplot(grid[0, 0]), _picture(x), "input $x$")
    _show(fig.add_subplot(grid[3, 0]), _picture(gx), f"$g\\cdot x$ ({_describe(group, element)})")
    ax = fig.add_subplot(grid[4, 0])
    _show(ax, diff[0].mean(0).numpy(), "all channels (mean)", cmap=_ERROR_CMAP, vmin=0.0, vmax=amp)
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


# -- groups and representations ---------------------------------------------------------------------

def _parse_rep(rep) -> Representation:
    if isinstance(rep, Representation):
        return rep
    if isinstance(rep, str):
        name = rep.replace(" ", "")
        if name == "regular":
            return Regular()
        if name == "trivial":
            return Trivial()
        if name.startswith("pixel_shuffle"):
            factor = name[len("pixel_shuffle"):].strip("()").split(",")[0]
            return pixel_shuffle(int(factor) if factor else 2)
    raise ValueError(f"rep must be a Representation or one of 'regular', 'trivial', 'pixel_shuffle(r)', got {rep!r}")


def _cycles(index: list[int]) -> str:
    """Cycle notation of "channel ``index[c]`` moves to position ``c``", e.g. ``(0 1 3 2)``."""
    goes_to = {src: dst for dst, src in enumerate(index)}
    seen, parts = set(), []
    for start in range(len(index)):
        if start in seen or goes_to[start] == start:
            seen.add(start)
            continue
        cycle, c = [], start
        while c not in seen:
            seen.add(c)
            cycle.append(str(c))
            c = goes_to[c]
        parts.append("(" + " ".join(cycle) + ")")
    return "".join(parts) or "identity"


def channel_shift_diagram(group: Group | str, rep, channels: int) -> Figure:
    """Which channel goes where under each group element, for one or several representations.

    One panel per representation: a row per group element, a column per channel position ``c``;
    the cell is coloured by (and labelled with) the channel of ``f(x)`` that lands at ``c`` after
    :math:`P_g` (``rep.permutation``), and the right margin gives the permutation in cycle
    notation ("0→1→3→2" is written ``(0 1 3 2)``). Thick lines separate fields.

    Args:
        group: the group.
        rep: a ``Representation``, a name (``"regular"``, ``"trivial"``, ``"pixel_shuffle(2)"``),
            or a list of them.
        channels: channels of the layer, e.g. ``8``; must fit every representation.

    Returns:
        a ``Figure`` with one axes per representation.

    Raises:
        ValueError: ``channels`` does not fit a representation, or an unknown name.

    Example:
        >>> fig = channel_shift_diagram("C4", ["regular", "pixel_shuffle(2)", "trivial"], 8)
    """
    group = get_group(group)
    reps = [_parse_rep(r) for r in (rep if isinstance(rep, (list, tuple)) else [rep])]
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    for r in reps:
        r.check(group, channels)
    fig = _figure(max(6.0, 0.55 * channels + 3.2), (0.42 * group.order + 1.2) * len(reps) + 0.4)
    axes = fig.subplots(len(reps), 1, squeeze=False)[:, 0]
    cmap = "tab20" if channels > 10 else "tab10"
    for ax, r in zip(axes, reps):
        table = np.array([r.permutation(group, e, channels).tolist() for e in group.elements()])  # (|G|, C)
        ax.imshow(table % (20 if channels > 10 else 10), cmap=cmap, vmin=0, vmax=(19 if channels > 10 else 9),
                  aspect="auto", interpolation="nearest")
        for (i, c), src in np.ndenumerate(table):
            ax.text(c, i, str(src), ha="center", va="center", fontsize=9, color="white", fontweight="bold")
        ax.set_yticks(range(group.order), [group.describe(e) for e in group.elements()], fontsize=8)
        ax.set_xticks(range(channels), [str(c) for c in range(channels)], fontsize=8)
        ax.set_xlabel("channel position $c$ of $P_g\\,\\mathrm{rot}_g f(x)$ (cell: source channel)", fontsize=8)
        size = field_size(r, group, channels)
        for edge in range(size, channels, size):
            ax.axvline(edge - 0.5, color="black", lw=2.5)
        right = ax.secondary_yaxis("right")
        right.set_yticks(range(group.order), [_cycles(row.tolist()[:size]) for row in table], fontsize=8)
        right.set_ylabel("cycles, first field\n(channel → position)", fontsize=8)
        ax.set_title(f"{r.name} representation of {group.name}, {channels} channels (fields of {size})",
                     fontsize=10)
    return fig


def group_orbit(x: torch.Tensor, group: Group | str) -> Figure:
    """The image under every element of a group: ``g·x`` for ``g`` in ``group.elements()``.

    For an interpolated group (C8) the dashed circle is ``group.mask``: outside it the rotated
    image has lost its corners and comparisons ignore it.

    Args:
        x: ``(C, H, W)`` or ``(B, C, H, W)`` image in [0, 1] (the first is used).
        group: the group.

    Returns:
        a ``Figure`` with ``group.order`` axes.
    """
    group = get_group(group)
    x = _as_batch(x)
    cols = min(group.order, 4)
    rows = math.ceil(group.order / cols)
    fig = _figure(2.4 * cols, 2.5 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, element in zip(axes, group.elements()):
        gx = group.rotate(x, element)
        _show(ax, _picture(gx), f"{element}: {group.describe(element)}")
        mask = group.mask(gx.shape[-2], gx.shape[-1])
        if mask is not None and element % 2:
            ax.contour(mask.numpy().astype(float), levels=[0.5], colors="yellow", linestyles="--", linewidths=1)
    for ax in axes[group.order:]:
        ax.axis("off")
    fig.suptitle(f"the orbit of x under {group.name} ({'exact' if group.exact else 'interpolated'})", fontsize=11)
    return fig


def cayley_table(group: Group | str) -> Figure:
    """The multiplication table ``compose(a, b)`` (apply ``b`` first, then ``a``) as a coloured grid.

    Every row and column is a permutation of the elements (a Latin square): that is closure and
    invertibility at a glance; the identity's row and column repeat the headers.

    Returns:
        a ``Figure`` with one axes.
    """
    group = get_group(group)
    n = group.order
    table = np.array([[group.compose(a, b) for b in group.elements()] for a in group.elements()])
    fig = _figure(0.55 * n + 3.0, 0.55 * n + 1.6)
    ax = fig.subplots()
    ax.imshow(table, cmap="tab10" if n <= 10 else "tab20", interpolation="nearest")
    for (i, j), v in np.ndenumerate(table):
        ax.text(j, i, str(v), ha="center", va="center", color="white", fontweight="bold")
    labels = [f"{e}: {group.describe(e)}" for e in group.elements()]
    ax.set_xticks(range(n), labels, rotation=45, ha="left", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_ylabel("a (applied second)")
    ax.set_title(f"{group.name}: compose(a, b)   (columns: b, applied first)", fontsize=10)
    return fig


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
    fig = _figure(2.2 * ncols + (0.8 if colorbar else 0), 2.3 * nrows + (0.4 if suptitle else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    amp = max(float(m.abs().max()) for m in maps) or 1.0
    for i, (ax, m) in enumerate(zip(axes, maps)):
        title = titles[i] if titles else None
        if m.dim() == 3:
            im = _show(ax, m.clamp(0, 1).permute(1, 2, 0).numpy(), title)
        elif vrange is not None:
            im = _show(ax, m.numpy(), title, cmap=cmap, vmin=vrange[0], vmax=vrange[1])
        elif symmetric:
            im = _show(ax, m.numpy(), title, cmap=cmap, vmin=-amp, vmax=amp)
        else:
            im = _show(ax, m.numpy(), title, cmap=cmap)
        if colorbar and not (symmetric or vrange):
            fig.colorbar(im, ax=ax, shrink=0.8)
    if colorbar and (symmetric or vrange):
        fig.colorbar(im, ax=list(axes[:len(maps)]), shrink=0.8)
    for ax in axes[len(maps):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


# -- equivariance errors ----------------------------------------------------------------------------

def _by_name(results, what: str) -> dict[str, list[dict]]:
    if isinstance(results, Mapping):
        return dict(results)
    if isinstance(results, Sequence):
        return {what: list(results)}
    raise TypeError(f"expected rows or {{name: rows}}, got {type(results).__name__}")


def layer_error_bars(results: Mapping[str, list[dict]], kinds: Sequence[str] | None = None) -> Figure:
    """Per-layer equivariance error of several arms, one panel per kind of error.

    Bars are the mean over group elements; whiskers span the smallest and largest element. The
    dotted line at ``√2`` is the error of two unrelated maps of equal energy.

    Args:
        results: ``{arm: rows}`` with rows from ``eqlab.metrics.equivariance_error`` (keys
            ``layer, element, kind, value``); e.g. ``{"plain": ..., "eqreg": ..., "strict": ...}``.
            Arms may have different layers (a strict twin); missing bars are left out.
        kinds: which kinds to show, a subset of ``("shift", "none", "best")``; default: those
            present in the rows.

    Returns:
        a ``Figure`` with one axes per kind.

    Example:
        >>> from eqlab.models import build
        >>> from eqlab.metrics import equivariance_error
        >>> rows = equivariance_error(build("dncnn", features=8, depth=3), torch.rand(1, 1, 16, 16))
        >>> fig = layer_error_bars({"plain": rows})
    """
    results = _by_name(results, "model")
    if not results or not any(results.values()):
        raise ValueError("layer_error_bars needs at least one arm with rows")
    present = [k for k in KINDS if any(r["kind"] == k for rows in results.values() for r in rows)]
    kinds = list(kinds) if kinds is not None else present
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {kinds!r}")
    layers = list(dict.fromkeys(r["layer"] for rows in results.values() for r in rows))
    arms = list(results)
    width = 0.8 / len(arms)
    fig = _figure(max(6.0, 0.55 * len(layers) * len(kinds) + 2.5), 3.6)
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)[0]
    for ax, kind in zip(axes, kinds):
        for i, arm in enumerate(arms):
            xs, means, lo, hi = [], [], [], []
            for j, name in enumerate(layers):
                values = [r["value"] for r in results[arm] if r["layer"] == name and r["kind"] == kind]
                if values:
                    xs.append(j + (i - (len(arms) - 1) / 2) * width)
                    means.append(np.mean(values))
                    lo.append(np.mean(values) - np.min(values))
                    hi.append(np.max(values) - np.mean(values))
            if xs:
                ax.bar(xs, means, width * 0.95, yerr=[lo, hi], capsize=2, color=_color(arm, i), label=arm,
                       error_kw=dict(lw=0.8))
                for xb, m in zip(xs, means):
                    if m < 0.02:  # an invisible bar would read as "missing": label it
                        ax.text(xb, 0.02, f"{m:.0e}" if m > 0 else "0", rotation=90, ha="center", va="bottom",
                                fontsize=6, color=_color(arm, i))
        ax.axhline(math.sqrt(2), color="black", ls=":", lw=1)
        ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right", fontsize=8)
        ax.set_title(_KIND_LABELS[kind], fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("relative equivariance error\n(0 = equivariant, √2 ≈ unrelated)")
    axes[-1].legend(fontsize=8, loc="upper right", framealpha=0.9)
    return fig


def error_vs_angle_plot(rows) -> Figure:
    """Output equivariance error against the rotation angle, from ``eqlab.metrics.error_vs_angle``.

    Multiples of 90° map the pixel grid onto itself (ringed markers, dotted vertical lines): an
    equivariant net can reach 0 there. Other angles interpolate; the dashed grey line (``floor``
    of the rows) is the interpolation error of the input itself, rotated there and back: the
    scale of what resampling alone costs. (A residual net, ``x - noise``, can sit below it: the
    input part of its output is rotated identically on both sides of the comparison.)

    Args:
        rows: rows with keys ``angle_deg, value, floor``, or ``{name: rows}`` for several models.

    Returns:
        a ``Figure`` with one axes.
    """
    results = _by_name(rows, "model")
    fig = _figure(7.5, 4.2)
    ax = fig.subplots()
    floor_drawn = False
    for i, (name, data) in enumerate(results.items()):
        data = sorted(data, key=lambda r: r["angle_deg"])
        if not data:
            continue
        angles = np.array([r["angle_deg"] for r in data])
        values = np.array([r["value"] for r in data])
        color = _color(name, i)
        ax.plot(angles, values, "o-", ms=3, color=color, label=name)
        exact = np.isclose(np.mod(angles, 90), 0) | np.isclose(np.mod(angles, 90), 90)
        ax.plot(angles[exact], values[exact], "o", ms=8, mfc="none", mec=color)
        if not floor_drawn and "floor" in data[0]:
            floor = np.array([r["floor"] for r in data])
            ax.fill_between(angles, 0, floor, color="0.9")
            ax.plot(angles, floor, "--", color="0.45", lw=1, label="interpolation error of x (rotate and back)")
            floor_drawn = True
    for a in range(0, 361, 90):
        ax.axvline(a, color="0.5", ls=":", lw=0.8)
    ax.set_xlim(0, 360)
    ax.set_xticks(range(0, 361, 45))
    ax.set_xlabel("rotation angle (degrees, counter-clockwise)")
    ax.set_ylabel("relative output error\n$\\|f(g x) - g f(x)\\|$ (disk)")
    ax.set_ylim(bottom=0)
    ax.set_title("exact at multiples of 90° (ringed), interpolated elsewhere", fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncol=4, frameon=False)
    return fig


# -- training -----------------------------------------------------------------------------------------

def training_curves(history) -> Figure:
    """Four panels from the history of ``eqlab.train.fit``: task loss, regularizer, gradient share, PSNR.

    Args:
        history: a ``TrainResult`` or its ``history`` (a list of records with ``step`` and some of
            ``task_loss``, ``reg_raw``, ``reg/<layer>``, ``grad_share``, ``val_psnr``), or
            ``{arm: history}`` to compare runs. A single run also draws each layer's term
            (``reg/<layer>``) thinly.

    Returns:
        a ``Figure`` with 4 axes; a panel with nothing recorded says so.
    """
    if hasattr(history, "history"):
        history = history.history
    runs = {k: getattr(v, "history", v) for k, v in history.items()} if isinstance(history, Mapping) \
        else {"run": list(history)}
    fig = _figure(11.0, 6.0)
    axes = fig.subplots(2, 2).ravel()
    panels = [("task_loss", "task loss (MSE)", True), ("reg_raw", "regularizer R (unweighted)", True),
              ("grad_share", "gradient share ‖∇λR‖ / ‖∇task‖", True), ("val_psnr", "validation PSNR (dB)", False)]
    for ax, (key, title, log) in zip(axes, panels):
        drawn = False
        for i, (arm, records) in enumerate(runs.items()):
            points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
            if key == "reg_raw" and len(runs) == 1:
                layers = list(dict.fromkeys(k for r in records for k in r if k.startswith("reg/")))
                for j, name in enumerate(layers):
                    lp = [(r["step"], r[name]) for r in records if name in r]
                    ax.plot(*zip(*lp), lw=0.7, alpha=0.6, color=f"C{j % 10}", label=name[4:])
            if points:
                color = _color(arm, i) if len(runs) > 1 else "black"
                ax.plot(*zip(*points), "o-" if len(points) < 15 else "-", ms=3, color=color,
                        lw=1.8 if key == "reg_raw" else 1.4, label=arm if len(runs) > 1 else key)
                drawn = True
        if drawn:
            if log and all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
                ax.set_yscale("log")
            handles, labels = ax.get_legend_handles_labels()
            if len(labels) > 1 or len(runs) > 1:
                ax.legend(fontsize=7, ncol=2 if len(labels) > 6 else 1, framealpha=0.9)
        else:
            ax.text(0.5, 0.5, f"not recorded\n(no '{key}' in the history)", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return fig


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
    clean, degraded = _as_batch(clean, "clean"), _as_batch(degraded, "degraded").clamp(0, 1)
    outs = {k: _as_batch(v, f"outputs[{k!r}]").clamp(0, 1) for k, v in outputs.items()}
    for k, v in outs.items():
        if v.shape != clean.shape:
            raise ValueError(f"outputs[{k!r}] has shape {tuple(v.shape)}, clean has {tuple(clean.shape)}")
    columns = [("clean", clean, False)] + [("degraded input", degraded, True)] + [(k, v, True) for k, v in outs.items()]
    n = len(columns)
    fig = _figure(2.6 * n + 0.8, 5.6)
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
        _show(axes[0, j], _picture(image), title, extent=extent)
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
        im = _show(ax, err, "|output − clean|", cmap="inferno", vmin=0.0, vmax=vmax)
    if im is not None:
        fig.colorbar(im, ax=[ax for ax, _ in errors], shrink=0.85, label="absolute error")
    return fig


def weight_tradeoff(rows: Sequence[Mapping], reference: Mapping[str, float] | None = None) -> Figure:
    r"""PSNR and layer equivariance error against the EQ-Reg weight :math:`\lambda` (log axis).

    Left axis (blue): PSNR; right axis (red, log scale): mean layer error, and the output error
    when present (dotted). Rows with ``weight == 0`` (the ``augment`` arm) cannot sit on a log
    axis; they are drawn as horizontal dashed reference lines. Several rows with the same weight
    (seeds) are averaged, each also shown as a faint point.

    Args:
        rows: dicts with ``weight``, ``psnr`` and ``layer_error``; optionally ``output_error``.
        reference: optional ``{label: PSNR}`` drawn as grey dotted lines, e.g. the ``plain`` arm
            or the degraded input.

    Returns:
        a ``Figure`` with two y axes (``len(fig.axes) == 2``).
    """
    rows = list(rows)
    for i, r in enumerate(rows):
        missing = [k for k in ("weight", "psnr", "layer_error") if k not in r]
        if missing:
            raise ValueError(f"row {i} lacks {missing}; got keys {sorted(r)}")
    positive = sorted({float(r["weight"]) for r in rows if r["weight"] > 0})
    if not positive:
        raise ValueError("weight_tradeoff needs at least one row with weight > 0")
    fig = _figure(7.5, 4.6)
    ax = fig.subplots()
    twin = ax.twinx()
    series = [(ax, "psnr", "PSNR (dB)", "#1f77b4", "o-"), (twin, "layer_error", "mean layer error", "#d62728", "s-"),
              (twin, "output_error", "output error", "#d62728", "^:")]
    for axis, key, label, color, style in series:
        if not all(key in r for r in rows):
            continue
        means = [np.mean([r[key] for r in rows if r["weight"] == w]) for w in positive]
        axis.plot(positive, means, style, color=color, label=label)
        points = [(r["weight"], r[key]) for r in rows if r["weight"] > 0]
        axis.plot(*zip(*points), ".", color=color, alpha=0.3)
        zero = [r[key] for r in rows if r["weight"] == 0]
        if zero:
            axis.axhline(np.mean(zero), color=color, ls="--", lw=1, alpha=0.7, label=f"{label}, λ = 0 (augment)")
    for i, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color=f"{0.3 + 0.2 * (i % 3):.1f}", ls=":", lw=1.2, label=f"PSNR, {label}")
    ax.set_xscale("log")
    twin.set_yscale("log")
    ax.set_xlabel("EQ-Reg weight λ")
    ax.set_ylabel("PSNR (dB)", color="#1f77b4")
    twin.set_ylabel("relative equivariance error", color="#d62728")
    ax.tick_params(axis="y", colors="#1f77b4")
    twin.tick_params(axis="y", colors="#d62728")
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=3, frameon=False)
    ax.set_title("the weight is a trade-off: quality against equivariance", fontsize=10)
    return fig


# -- degradations -----------------------------------------------------------------------------------

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
    x1 = _as_batch(batch)
    with torch.no_grad():
        dx = apply(x1)
        pairs = [(apply(group.rotate(x1, e)), group.rotate(dx, e)) for e in group.elements()]
    n = group.order
    fig = _figure(2.0 * n + 3.6, 6.6)
    grid = fig.add_gridspec(3, n + 1, width_ratios=[1] * n + [1.6])
    amp = max(max(float((a - b).abs().max()) for a, b in pairs), 0.05)  # round-off should read black
    diff_axes = []
    for j, (e, (lhs, rhs)) in enumerate(zip(group.elements(), pairs)):
        mask = group.mask(lhs.shape[-2], lhs.shape[-1])
        keep = mask.float() if mask is not None else 1.0
        _show(fig.add_subplot(grid[0, j]), _picture(lhs), group.describe(e))
        _show(fig.add_subplot(grid[1, j]), _picture(rhs))
        ax = fig.add_subplot(grid[2, j])
        im = _show(ax, ((lhs - rhs).abs().mean(1)[0] * keep).numpy(), cmap=_ERROR_CMAP, vmin=0.0, vmax=amp)
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
