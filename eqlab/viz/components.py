r"""Which equivariance? A layer's field spectrum: the energy share and the error of each isotypic component.

A small layer error can mean a layer whose fields carry orientation and turn with the input (a
group CNN), or a layer whose fields are orientation-blind (every field's channels equal: equivariant
for free). ``component_spectrum`` shows the difference at a glance, for several nets side by side:
how the layer's energy splits over the isotypic components of its representation
(``eqlab.isotypic``: for C4's regular fields ``invariant``, ``frequency 1`` and ``sign``), the
relative error of each component, and one line per net, "orientation-carrying energy x %, its error
y", with the verdict of ``eqlab.metrics.verdict`` (the same words and thresholds as the app).

What is here: ``component_spectrum`` (the figure), ``pool_components`` (component rows summed over
group elements: what the bars show, also used by the app's chart) and ``COMPONENT_COLORS`` /
``component_color`` (one colour per component, shared with the app).
What is not here: the measurement (``eqlab.metrics.equivariance_components``,
``RotationView.components``), the per-layer error without components (``eqlab.viz.errors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from eqlab.metrics.components import EQUIVARIANT, UNRELATED, summarize_components
from eqlab.viz._common import figure

__all__ = ["component_spectrum", "pool_components", "component_color", "COMPONENT_COLORS"]

# One colour per isotypic component, the same in the figures and in the app: grey for the invariant part (what no
# channel shift can see), colours for the parts that carry orientation.
COMPONENT_COLORS = {"invariant": "#8c8c8c", "frequency 1": "#1f77b4", "sign": "#ff7f0e", "frequency 2": "#2ca02c",
                    "frequency 3": "#d62728", "A2": "#9467bd", "B1": "#2ca02c", "B2": "#d62728", "E": "#1f77b4"}


def component_color(name: str) -> str:
    """The colour of an isotypic component (``COMPONENT_COLORS``; others: brown)."""
    return COMPONENT_COLORS.get(name, "#8c564b")


def pool_components(rows: Sequence[dict], layer: str | None = None) -> list[dict]:
    """Component rows of one layer summed over the group elements (and images) they cover.

    Args:
        rows: rows of ``eqlab.metrics.equivariance_components`` or ``RotationView.components()``
            (keys ``component, oriented, energy, diff``; ``layer`` when several layers are present).
        layer: the layer to keep; default every row (one layer, or a pooled view of several).

    Returns:
        one dict per component, in the order of first appearance (invariant first):
        ``component, oriented, energy, diff, share`` (of the pooled energy; the shares add up to 1) and
        ``value`` (the pooled relative error, ``sqrt(diff / (energy / 2))``; NaN for an empty component).

    Example:
        >>> rows = [dict(component="invariant", oriented=False, energy=2.0, diff=0.0),
        ...         dict(component="sign", oriented=True, energy=2.0, diff=1.0)]
        >>> [(r["component"], r["share"], r["value"]) for r in pool_components(rows)]
        [('invariant', 0.5, 0.0), ('sign', 0.5, 1.0)]
    """
    sums: dict[str, dict] = {}
    for row in rows:
        if layer is not None and row.get("layer") != layer:
            continue
        entry = sums.setdefault(row["component"], dict(component=row["component"], oriented=row["oriented"],
                                                       energy=0.0, diff=0.0))
        entry["energy"] += row["energy"]
        entry["diff"] += row["diff"]
    total = sum(e["energy"] for e in sums.values())
    for e in sums.values():
        e["share"] = e["energy"] / total if total > 0 else float("nan")
        e["value"] = float(np.sqrt(e["diff"] / (e["energy"] / 2))) if e["energy"] > 0 else float("nan")
    return list(sums.values())


def _by_name(results) -> dict[str, list[dict]]:
    if isinstance(results, Mapping):
        return {name: list(rows) for name, rows in results.items()}
    if isinstance(results, Sequence):
        return {"net": list(results)}
    raise TypeError(f"expected component rows or {{name: rows}}, got {type(results).__name__}")


def component_spectrum(results: Mapping[str, Sequence[dict]] | Sequence[dict], layer: str | None = None,
                       title: str | None = None) -> Figure:
    r"""The field spectrum of one layer, for one net or several side by side.

    Left: how the layer's energy (centred maps, :math:`\|\Pi_\chi A\|^2 + \|\Pi_\chi B\|^2`) splits over the
    isotypic components, one stacked bar per net; the grey part is the invariant component, the part
    no channel shift can see. Right: the relative error of each component,

    .. math:: e_\chi = \frac{\|\Pi_\chi (A - B)\|}{\sqrt{(\|\Pi_\chi A\|^2 + \|\Pi_\chi B\|^2) / 2}},
              \qquad A = P_g\, \mathrm{rot}_g f(x),\ B = f(g x),

    with dotted lines at ``EQUIVARIANT`` (below: softly equivariant) and ``UNRELATED`` (√2: two
    unrelated centred maps). Under the bars, one line per net: "orientation-carrying energy x %, its
    error y" and the verdict of ``eqlab.metrics.verdict``: a net whose small error comes from an
    orientation-blind layer is called blind, not equivariant.

    Args:
        results: ``{name: rows}`` (e.g. ``{"augment": ..., "eqreg": ..., "strict": ...}``) or the rows of one
            net; rows from ``eqlab.metrics.equivariance_components`` (pooled over their elements) or
            ``RotationView.components()`` (one element).
        layer: the layer to show when the rows hold several (``equivariance_components`` of a whole
            net); default: the first layer of each net's rows. A net without that layer is left out.
        title: the figure title; default names the layer.

    Returns:
        a ``Figure`` with two axes (energy shares, errors).

    Raises:
        ValueError: no rows to show.

    Example:
        >>> import torch
        >>> from eqlab.metrics import equivariance_components
        >>> from eqlab.models import build
        >>> x = torch.rand(1, 1, 16, 16)
        >>> rows = {"plain": equivariance_components(build("dncnn", features=8, depth=3), x, layers=["body.0.conv"]),
        ...         "strict": equivariance_components(build("dncnn_p4", fields=2, depth=3), x, layers=["body.0.conv"])}
        >>> fig = component_spectrum(rows)
    """
    nets = {}
    for name, rows in _by_name(results).items():
        chosen = layer if layer is not None else next((r.get("layer") for r in rows), None)
        kept = [r for r in rows if chosen is None or r.get("layer", chosen) == chosen]
        if kept:
            nets[name] = (pool_components(kept), summarize_components(kept), chosen)
    if not nets:
        raise ValueError(f"no component rows to show (layer {layer!r})")
    names = list(nets)
    components = list(dict.fromkeys(c["component"] for pooled, _, _ in nets.values() for c in pooled))
    colors = {c: component_color(c) for c in components}
    fig = figure(9.5, 1.6 + 0.55 * len(names) + 0.3 * len(names))
    grid = fig.add_gridspec(2, 2, height_ratios=[0.55 * len(names) + 0.6, 0.3 * len(names) + 0.2],
                            width_ratios=[1, 1.25])
    left, right, words = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])
    y = np.arange(len(names))[::-1]  # the first net on top
    height = 0.8 / max(len(components), 1)
    for yi, name in zip(y, names):
        pooled = {c["component"]: c for c in nets[name][0]}
        start = 0.0
        for k, comp in enumerate(components):
            entry = pooled.get(comp)
            if entry is None:
                continue
            share = entry["share"] if entry["share"] == entry["share"] else 0.0
            left.barh(yi, share, left=start, color=colors[comp], label=comp if yi == y[0] else None, height=0.6)
            if share > 0.12:
                left.text(start + share / 2, yi, f"{100 * share:.0f} %", ha="center", va="center", fontsize=8,
                          color="white")
            start += share
            value = entry["value"]
            offset = ((len(components) - 1) / 2 - k) * height  # the first component on top
            if value == value:
                right.barh(yi + offset, value, height * 0.9, color=colors[comp])
                right.text(value + 0.02, yi + offset, f"{value:.2f}", va="center", fontsize=7)
    left.set_xlim(0, 1)
    left.set_yticks(y, names)
    left.set_xlabel("share of the layer's energy")
    left.set_title("energy per component", fontsize=10)
    right.axvline(EQUIVARIANT, color="0.4", ls=":", lw=1)
    right.axvline(UNRELATED, color="black", ls=":", lw=1)
    right.set_xlim(0, 2.15)
    right.set_yticks(y, [""] * len(names))
    right.set_xlabel(f"relative error (0 equivariant · < {EQUIVARIANT:g} softly · {UNRELATED:.2f} unrelated)")
    right.set_title("error per component", fontsize=10)
    left.legend(loc="lower center", bbox_to_anchor=(1.1, 1.12), ncols=len(components), fontsize=8, frameon=False)
    lines = []
    for name in names:
        pooled, summary, chosen = nets[name]
        share = summary["oriented_share"]
        if summary["blind"] is None:
            part = "no oriented component (P_g only rotates this layer)"
        else:
            part = f"orientation-carrying energy {100 * share:.0f} %, its error {summary['oriented_error']:.2f}"
        lines.append(f"{name}: {part} · whole layer {summary['error']:.2f} · {summary['verdict']}")
    words.axis("off")
    words.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=8, wrap=True, transform=words.transAxes)
    chosen = {c for _, _, c in nets.values()}
    fig.suptitle(title or f"field spectrum of layer '{', '.join(sorted(map(str, chosen)))}'", fontsize=11)
    return fig
