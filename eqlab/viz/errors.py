r"""Equivariance errors as charts: per layer and arm, against the angle, against the EQ-Reg weight.

What is here: ``layer_error_bars`` (rows of ``eqlab.metrics.equivariance_error`` per layer, one
panel per kind), ``error_vs_angle_plot`` (rows of ``eqlab.metrics.error_vs_angle``) and
``weight_tradeoff`` (PSNR and equivariance error against :math:`\lambda`).

What is not here: computing the errors (``eqlab.metrics``) and the feature maps behind them
(``eqlab.viz.features.rotation_panel``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from eqlab.metrics import FLOOR_SIGMA, KINDS, UNRELATED, orientation_summary, words
from eqlab.viz._common import arm_color, figure

__all__ = ["layer_error_bars", "error_vs_angle_plot", "weight_tradeoff"]

_KIND_LABELS = {"shift": "with $P_g$ (the layer's rep)", "none": "no channel permutation",
                "best": "best permutation"}
_PSNR_COLOR, _ERROR_COLOR, _OUTPUT_COLOR = "#1f77b4", "#d62728", "#9467bd"  # the series of weight_tradeoff
_REFERENCE_STYLES = (("0.25", ":"), ("0.5", "-."), ("0.65", "--"))  # (grey, line style) of its reference lines


def _by_name(results, what: str) -> dict[str, list[dict]]:
    if isinstance(results, Mapping):
        return dict(results)
    if isinstance(results, Sequence):
        return {what: list(results)}
    raise TypeError(f"expected rows or {{name: rows}}, got {type(results).__name__}")


def layer_error_bars(results: Mapping[str, list[dict]], kinds: Sequence[str] | None = None,
                     components: Mapping[str, list[dict]] | None = None) -> Figure:
    """Per-layer equivariance error of several arms, one panel per kind of error.

    Bars are the mean over group elements; whiskers span the smallest and largest element. The
    dotted line at ``UNRELATED`` (√2) is the error of two unrelated centred maps (``eqlab.metrics``
    centres layer maps). A bar too short to
    see is labelled with its value. The legend sits above the panels, clear of the bars.

    Args:
        results: ``{arm: rows}`` with rows from ``eqlab.metrics.equivariance_error`` (keys
            ``layer, element, kind, value``); e.g. ``{"plain": ..., "eqreg": ..., "strict": ...}``.
            Arms may have different layers (a strict twin); missing bars are left out.
        kinds: which kinds to show, a subset of ``("shift", "none", "best")``; default: those
            present in the rows.
        components: ``{arm: rows}`` from ``eqlab.metrics.equivariance_components`` on the same input:
            then each arm's legend entry says how much of its layers' energy carries orientation, and
            the bars of orientation-blind layers are hatched (a small error there is the invariant part).

    Returns:
        a ``Figure`` with one axes per kind.

    Example:
        >>> import torch
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
    summaries = {arm: {s["layer"]: s for s in orientation_summary(rows)} for arm, rows in (components or {}).items()}

    def arm_label(arm: str) -> str:
        oriented = [s["oriented_share"] for s in summaries.get(arm, {}).values() if s["blind"] is not None]
        return f"{arm} · oriented {100 * np.mean(oriented):.0f} %" if oriented else arm

    width = 0.8 / len(arms)
    fig = figure(max(6.0, 0.55 * len(layers) * len(kinds) + 2.5), 3.6)
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)[0]
    for ax, kind in zip(axes, kinds):
        for i, arm in enumerate(arms):
            xs, means, lo, hi, blind = [], [], [], [], []
            for j, name in enumerate(layers):
                values = [r["value"] for r in results[arm] if r["layer"] == name and r["kind"] == kind]
                if values:
                    blind.append(bool(summaries.get(arm, {}).get(name, {}).get("blind")))
                    xs.append(j + (i - (len(arms) - 1) / 2) * width)
                    means.append(np.mean(values))
                    lo.append(np.mean(values) - np.min(values))
                    hi.append(np.max(values) - np.mean(values))
            if xs:
                bars = ax.bar(xs, means, width * 0.95, yerr=[lo, hi], capsize=2, color=arm_color(arm, i),
                              label=arm_label(arm), error_kw=dict(lw=0.8))
                for bar, is_blind in zip(bars, blind):
                    if is_blind:
                        bar.set_hatch("///")
                for xb, m in zip(xs, means):
                    if m < 0.02:  # an invisible bar would read as "missing": label it
                        ax.text(xb, 0.02, f"{m:.0e}" if m > 0 else "0", rotation=90, ha="center", va="bottom",
                                fontsize=7, color=arm_color(arm, i))
        ax.axhline(UNRELATED, color="black", ls=":", lw=1)
        ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right", fontsize=8)
        ax.set_title(_KIND_LABELS[kind], fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(f"relative equivariance error (centred maps)\n0 = equivariant · {UNRELATED:.2f} = unrelated")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:  # an arm may have bars in one panel only
        for handle, text in zip(*ax.get_legend_handles_labels()):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    if any(s["blind"] for arm in summaries.values() for s in arm.values()):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///"))
        labels.append("orientation-blind layer")
    columns = len(labels) if not summaries else min(len(labels), 3)  # the oriented shares make labels long
    fig.legend(handles, labels, loc="outside upper center", ncol=columns, fontsize=9, frameon=False)
    return fig


def error_vs_angle_plot(rows) -> Figure:
    """Output equivariance error against the rotation angle, from ``eqlab.metrics.error_vs_angle``.

    Multiples of 90° map the pixel grid onto itself (ringed markers, dotted vertical lines): an
    equivariant net can reach 0 there. Other angles interpolate; the dashed grey line (``floor``
    of the rows) is the same measurement for an isotropic Gaussian blur
    (``eqlab.metrics.FLOOR_SIGMA`` px), an operation that is equivariant before discretisation:
    the scale of what interpolation alone costs a smooth, equivariant map. (A net can lie below
    it by being smoother than the blur; a residual net, ``x - noise``, also because the input part
    of its output is rotated identically on both sides of the comparison.)

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
            ax.plot(angles, floor, "--", color="0.45", lw=1,
                    label=f"floor: an isotropic blur (σ = {FLOOR_SIGMA:g} px), equivariant")
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
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("floor"))  # the models first
    fig.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=9, loc="outside lower center",
               ncol=min(len(labels), 4), frameon=False)
    return fig


def weight_tradeoff(rows: Sequence[Mapping], reference: Mapping[str, float] | None = None,
                    input_psnr: float | None = None) -> Figure:
    r"""PSNR and equivariance error against the EQ-Reg weight :math:`\lambda`, in two panels on one log axis.

    Top: PSNR. Bottom (log scale): the mean layer error and, when the rows have it, the output
    error. Rows with ``weight == 0`` (the ``augment`` arm) cannot sit on a log axis: they are drawn
    one decade left of the smallest weight, at a tick labelled "0", joined to the curve by a dotted
    segment (the axis is broken there). Several rows with the same weight (seeds) are averaged, each
    also shown as a faint point. Every line is labelled at its right end with its last value, and
    labels that would overlap are moved apart, so close references stay readable without a legend.

    Args:
        rows: dicts with ``weight``, ``psnr`` and ``layer_error``; optionally ``output_error``.
        reference: optional ``{label: PSNR}`` drawn as grey horizontal lines in the top panel, e.g.
            the ``plain`` arm or the degraded input.
        input_psnr: the degraded input's PSNR; when given, the title says what the sweep is
            (``eqlab.metrics.words.sweep_outcome`` of the means per weight: a trade-off, a collapse, ...),
            otherwise it only names the panels.

    Returns:
        a ``Figure`` with two axes (PSNR, error) sharing the weight axis.

    Example:
        >>> rows = [dict(weight=0.0, psnr=29.0, layer_error=1.4), dict(weight=1e-3, psnr=27.3, layer_error=0.07)]
        >>> fig = weight_tradeoff(rows, reference={"noisy input": 20.2})
    """
    rows = list(rows)
    for i, r in enumerate(rows):
        missing = [k for k in ("weight", "psnr", "layer_error") if k not in r]
        if missing:
            raise ValueError(f"row {i} lacks {missing}; got keys {sorted(r)}")
    positive = sorted({float(r["weight"]) for r in rows if r["weight"] > 0})
    if not positive:
        raise ValueError("weight_tradeoff needs at least one row with weight > 0")
    zero_at = positive[0] / 10  # where the lambda = 0 rows are drawn, left of the break

    def x_of(weight: float) -> float:
        return float(weight) if weight > 0 else zero_at

    fig = figure(7.5, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.2, 1])
    series = [(top, "psnr", "eqreg", _PSNR_COLOR, "o-"),
              (bottom, "layer_error", "mean layer error", _ERROR_COLOR, "s-"),
              (bottom, "output_error", "output error", _OUTPUT_COLOR, "^--")]
    labels = {top: [], bottom: []}
    for ax, key, label, color, style in series:
        if not all(key in r for r in rows):
            continue
        weights = ([0.0] if any(r["weight"] == 0 for r in rows) else []) + positive
        means = [float(np.mean([r[key] for r in rows if r["weight"] == w])) for w in weights]
        xs = [x_of(w) for w in weights]
        first = 1 if weights[0] == 0 else 0
        ax.plot(xs[first:], means[first:], style, color=color, ms=6, lw=1.8)
        if first:  # lambda = 0 across the break: a marker and a dotted link
            ax.plot(xs[:2], means[:2], ":", color=color, lw=1.2)
            ax.plot(xs[:1], means[:1], style[0], color=color, ms=6, mfc="white", mew=1.8)
        ax.plot([x_of(r["weight"]) for r in rows], [r[key] for r in rows], ".", color=color, alpha=0.35)
        labels[ax].append((means[-1], f"{label} {means[-1]:.3g}" if key != "psnr" else f"{label} {means[-1]:.2f} dB",
                           color))
    for i, (label, value) in enumerate((reference or {}).items()):
        style = _REFERENCE_STYLES[i % len(_REFERENCE_STYLES)]
        top.axhline(value, color=style[0], ls=style[1], lw=1.3)
        labels[top].append((float(value), f"{label} {value:.2f} dB", style[0]))
    bottom.set_yscale("log")
    for ax, entries in labels.items():
        _label_right(ax, entries)
    bottom.set_xscale("log")
    ticks = [zero_at] + positive if any(r["weight"] == 0 for r in rows) else positive
    bottom.set_xticks(ticks, [("0\n(augment)" if t == zero_at else f"{t:g}") for t in ticks])
    bottom.minorticks_off()
    top.tick_params(labelbottom=False)
    bottom.set_xlim(ticks[0] / 2, positive[-1] * 2)
    if ticks[0] == zero_at:  # mark the break between lambda = 0 and the log axis
        for ax in (top, bottom):
            ax.axvspan(zero_at * 1.8, positive[0] / 1.8, color="0.93", lw=0)
    bottom.set_xlabel("EQ-Reg weight λ (log scale; λ = 0 left of the grey break)")
    top.set_ylabel("PSNR (dB)")
    bottom.set_ylabel("relative equivariance error\n(log; 0 = equivariant)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    title = "PSNR (top) and equivariance error (bottom) against the weight"
    if input_psnr is not None and len(weights) > 1:
        means = [dict(weight=w, psnr=float(np.mean([r["psnr"] for r in rows if r["weight"] == w])),
                      layer_error=float(np.mean([r["layer_error"] for r in rows if r["weight"] == w])))
                 for w in weights]
        title = f"the weight, read from the sweep: {words.sweep_outcome(means, input_psnr)}\n" + title
    top.set_title(title, fontsize=10)
    return fig


def _label_right(ax, entries: list[tuple[float, str, str]], gap: float = 0.075) -> None:
    """Write ``(y, text, colour)`` labels just right of the axes at height ``y``, moved apart where they would overlap.

    ``gap`` is the smallest distance between two labels, as a fraction of the axes' height.
    """
    if not entries:
        return
    ax.autoscale_view()
    low, high = ax.get_ylim()
    ax.set_ylim(low, high)  # frozen: the labels are placed in axes fractions of these limits
    log = ax.get_yscale() == "log"

    def frac(y):
        return (np.log10(y) - np.log10(low)) / (np.log10(high) - np.log10(low)) if log else (y - low) / (high - low)

    order = sorted(range(len(entries)), key=lambda i: entries[i][0])
    where = [float(frac(entries[i][0])) for i in order]
    for k in range(1, len(where)):  # push up what is too close to the label below
        where[k] = max(where[k], where[k - 1] + gap)
    overflow = where[-1] - 1.0
    if overflow > 0:  # then shift the whole stack down, keeping the gaps
        where = [w - overflow for w in where]
        for k in range(len(where) - 2, -1, -1):
            where[k] = min(where[k], where[k + 1] - gap)
    for k, i in enumerate(order):
        ax.annotate(entries[i][1], xy=(1.0, frac(entries[i][0])), xycoords="axes fraction", xytext=(1.02, where[k]),
                    textcoords="axes fraction", va="center", ha="left", fontsize=8, color=entries[i][2],
                    arrowprops=dict(arrowstyle="-", color=entries[i][2], lw=0.6, alpha=0.6))
