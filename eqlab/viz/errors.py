r"""Equivariance errors as charts: per layer and arm, against the angle, against the EQ-Reg weight.

What is here: ``layer_error_bars`` (rows of ``eqlab.metrics.equivariance_error`` per layer, one
panel per kind), ``error_vs_angle_plot`` (rows of ``eqlab.metrics.error_vs_angle``) and
``weight_tradeoff`` (PSNR and equivariance error against :math:`\lambda`).

What is not here: computing the errors (``eqlab.metrics``) and the feature maps behind them
(``eqlab.viz.features.rotation_panel``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from eqlab.metrics import KINDS
from eqlab.viz._common import arm_color, figure

__all__ = ["layer_error_bars", "error_vs_angle_plot", "weight_tradeoff"]

_KIND_LABELS = {"shift": "with $P_g$ (the layer's rep)", "none": "no channel permutation",
                "best": "best permutation"}


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
    fig = figure(max(6.0, 0.55 * len(layers) * len(kinds) + 2.5), 3.6)
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
                ax.bar(xs, means, width * 0.95, yerr=[lo, hi], capsize=2, color=arm_color(arm, i), label=arm,
                       error_kw=dict(lw=0.8))
                for xb, m in zip(xs, means):
                    if m < 0.02:  # an invisible bar would read as "missing": label it
                        ax.text(xb, 0.02, f"{m:.0e}" if m > 0 else "0", rotation=90, ha="center", va="bottom",
                                fontsize=6, color=arm_color(arm, i))
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
    fig = figure(7.5, 4.2)
    ax = fig.subplots()
    floor_drawn = False
    for i, (name, data) in enumerate(results.items()):
        data = sorted(data, key=lambda r: r["angle_deg"])
        if not data:
            continue
        angles = np.array([r["angle_deg"] for r in data])
        values = np.array([r["value"] for r in data])
        color = arm_color(name, i)
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
    fig = figure(7.5, 4.6)
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
