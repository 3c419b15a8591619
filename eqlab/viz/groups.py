"""Groups and representations as pictures: channel tables, orbits, Cayley tables.

What is here: ``channel_shift_diagram`` (which channel goes where under each element, for one or
several representations), ``group_orbit`` (an image under every element) and ``cayley_table``
(the multiplication table as a coloured grid).

What is not here: the groups and representations themselves (``eqlab.groups``), a network's
features (``eqlab.viz.features``) and plain image grids (``eqlab.viz.grid``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from eqlab.groups import Group, Regular, Representation, Trivial, get_group, pixel_shuffle
from eqlab.viz._common import as_batch, categorical_cmap, figure, picture, show
from eqlab.viz.features import field_size

__all__ = ["channel_shift_diagram", "group_orbit", "cayley_table"]


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
    """Cycle notation of "channel ``index[c]`` moves to position ``c``", e.g. ``(0 2 3 1)`` (pixel_shuffle(2))."""
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
    notation, as moves: ``(0 2 3 1)`` is "0→2→3→1", the quarter turn of ``pixel_shuffle(2)``: channel 0
    lands at position 2, 2 at 3, 3 at 1 and 1 at 0. Thick lines separate fields.

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
    fig = figure(max(6.0, 0.55 * channels + 3.2), (0.42 * group.order + 1.2) * len(reps) + 0.4)
    axes = fig.subplots(len(reps), 1, squeeze=False)[:, 0]
    cmap = categorical_cmap(channels)
    colors = 10 if cmap == "tab10" else 20  # source channels beyond that repeat the colours
    for ax, r in zip(axes, reps):
        table = np.array([r.permutation(group, e, channels).tolist() for e in group.elements()])  # (|G|, C)
        ax.imshow(table % colors, cmap=cmap, vmin=0, vmax=colors - 1, aspect="auto", interpolation="nearest")
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
    x = as_batch(x)
    cols = min(group.order, 4)
    rows = math.ceil(group.order / cols)
    fig = figure(2.4 * cols, 2.5 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, element in zip(axes, group.elements()):
        gx = group.rotate(x, element)
        show(ax, picture(gx), f"{element}: {group.describe(element)}")
        mask = group.mask(gx.shape[-2], gx.shape[-1])
        if mask is not None and not group.is_exact(element):
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
    fig = figure(0.55 * n + 3.0, 0.55 * n + 1.6)
    ax = fig.subplots()
    ax.imshow(table, cmap=categorical_cmap(n), interpolation="nearest")
    for (i, j), v in np.ndenumerate(table):
        ax.text(j, i, str(v), ha="center", va="center", color="white", fontweight="bold")
    labels = [f"{e}: {group.describe(e)}" for e in group.elements()]
    ax.set_xticks(range(n), labels, rotation=45, ha="left", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_ylabel("a (applied second)")
    ax.set_title(f"{group.name}: compose(a, b)   (columns: b, applied first)", fontsize=10)
    return fig
