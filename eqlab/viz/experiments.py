"""Figures of a grid of runs (``eqlab.experiments``): the arms per task, the share trade-off, the symmetry knob.

Each function takes the run records of ``eqlab.experiments.run_grid`` (dicts with ``metrics``,
``train`` and ``spec``), grouped as its docstring says, and returns a ``Figure``. Differences
between arms are *paired by seed* (the arms of one seed see the same images and noise).

What is not here: running the grid (``eqlab.experiments``), the page (``scripts/report.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from eqlab.viz._common import arm_color, figure

__all__ = ["arm_comparison", "share_tradeoff", "synthetic_knob", "regime_map", "regime_figure"]


def _seed(record: Mapping) -> int:
    return record["spec"]["config"]["optim"]["seed"]


def _paired(a: Sequence[Mapping], b: Sequence[Mapping], key: str) -> tuple[float, float]:
    by_seed = {_seed(r): r["metrics"][key] for r in b}
    diffs = [r["metrics"][key] - by_seed[_seed(r)] for r in a if _seed(r) in by_seed and key in r["metrics"]]
    if not diffs:
        return float("nan"), 0.0
    return float(np.mean(diffs)), float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0


def arm_comparison(data: Mapping[str, Mapping[str, Sequence[Mapping]]]) -> Figure:
    """Per task: PSNR of each arm minus augment's (upright, 90°, 45° test sets), and the mean layer error.

    Args:
        data: ``{task: {arm: [records]}}`` with the arms plain, augment, eqreg and strict.

    Returns:
        a ``Figure`` with two rows of one axes per task.
    """
    tasks = list(data)
    fig = figure(3.4 * len(tasks), 5.4)
    axes = fig.subplots(2, len(tasks), squeeze=False)
    views = (("psnr", "upright"), ("psnr_turned90", "90°"), ("psnr_turned45", "45°"))
    for col, task in enumerate(tasks):
        arms, ax = data[task], axes[0, col]
        others = [a for a in arms if a != "augment"]
        width = 0.8 / len(others)
        for i, arm in enumerate(others):
            stats = [_paired(arms[arm], arms["augment"], key) for key, _ in views]
            ax.bar(np.arange(3) + (i - (len(others) - 1) / 2) * width, [m for m, _ in stats], width,
                   yerr=[s for _, s in stats], color=arm_color(arm, i), label=arm, capsize=2)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(3), [label for _, label in views])
        ax.set_title(task, fontsize=10)
        if col == 0:
            ax.set_ylabel("PSNR − augment (dB, paired)")
        ax = axes[1, col]
        names = list(arms)
        means = [np.mean([r["metrics"]["layer_error"] for r in arms[a]]) if arms[a] else np.nan for a in names]
        stds = [np.std([r["metrics"]["layer_error"] for r in arms[a]]) if arms[a] else 0 for a in names]
        ax.bar(range(len(names)), np.maximum(means, 1e-7), yerr=stds, color=[arm_color(a, i) for i, a in
                                                                              enumerate(names)], capsize=2)
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, fontsize=8)
        if col == 0:
            ax.set_ylabel("mean layer equivariance error")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.suptitle("the arms on equal budgets (mean ± std over seeds; strict's error is float round-off)", fontsize=10)
    return fig


def share_tradeoff(data: Mapping[str, Sequence[Mapping]]) -> Figure:
    """Per task: PSNR change against augment and the layer error, against the target gradient share.

    Args:
        data: ``{task: [rows]}``, each row a flat dict with ``label`` (``"augment"`` or a share),
            ``share`` (the target), ``psnr``, ``layer_error`` and ``seed``.
    """
    tasks = list(data)
    fig = figure(3.4 * len(tasks), 5.0)
    axes = fig.subplots(2, len(tasks), squeeze=False)
    for col, task in enumerate(tasks):
        rows = data[task]
        augment = {r["seed"]: r for r in rows if r["label"] == "augment"}
        shares = sorted({r["share"] for r in rows if r["label"] != "augment" and np.isfinite(r["share"])})
        for row, key in ((0, "psnr"), (1, "layer_error")):
            ax = axes[row, col]
            means, stds = [], []
            for share in shares:
                if key == "psnr":
                    values = [r[key] - augment[r["seed"]][key] for r in rows
                              if r["label"] != "augment" and r["share"] == share and r["seed"] in augment]
                else:
                    values = [r[key] for r in rows if r["label"] != "augment" and r["share"] == share]
                means.append(np.mean(values) if values else np.nan)
                stds.append(np.std(values) if len(values) > 1 else 0.0)
            ax.errorbar(shares, means, yerr=stds, marker="o", color=arm_color("eqreg", 0), capsize=2, label="eqreg")
            if key == "psnr":
                ax.axhline(0, color=arm_color("augment", 1), ls="--", lw=1, label="augment")
                ax.axhline(-0.1, color="0.5", ls=":", lw=1, label="augment − 0.1 dB")
                ax.set_title(task, fontsize=10)
            else:
                aug = np.mean([r[key] for r in augment.values()]) if augment else np.nan
                ax.axhline(aug, color=arm_color("augment", 1), ls="--", lw=1, label="augment")
                ax.axhline(aug / 3, color="0.5", ls=":", lw=1, label="augment ÷ 3")
                ax.set_yscale("log")
                ax.set_xlabel("target gradient share")
            ax.set_xscale("log")
            ax.set_xticks(shares, [f"{v:g}" for v in shares], minor=False)
            ax.xaxis.set_minor_locator(NullLocator())  # the shares themselves, not 2x10^-1 3x10^-1
            if col == 0:
                ax.set_ylabel("PSNR − augment (dB)" if key == "psnr" else "mean layer error")
                ax.legend(fontsize=7, frameon=False)
    fig.suptitle("one setting for every task: the penalty's gradient share (mean ± std over seeds)", fontsize=10)
    return fig


def synthetic_knob(data: Mapping[float, Mapping[str, Sequence[Mapping]]]) -> Figure:
    """PSNR of each arm against the orientation bias of synthetic textures (upright and 90° test sets).

    Args:
        data: ``{bias: {arm: [records]}}``.
    """
    biases = sorted(data)
    fig = figure(8.0, 3.4)
    axes = fig.subplots(1, 2)
    arms = list(next(iter(data.values())))
    for ax, (key, title) in zip(axes, (("psnr", "upright test"), ("psnr_turned90", "test turned 90°"))):
        for i, arm in enumerate(arms):
            means = [np.mean([r["metrics"][key] for r in data[b][arm]]) if data[b][arm] else np.nan for b in biases]
            stds = [np.std([r["metrics"][key] for r in data[b][arm]]) if data[b][arm] else 0 for b in biases]
            ax.errorbar(biases, means, yerr=stds, marker="o", capsize=2, color=arm_color(arm, i), label=arm)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("orientation bias (0: isotropic, 1: streaks along one direction)")
    axes[0].set_ylabel("PSNR (dB)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=9)
    return fig


def regime_map(panels: Mapping[str, Mapping[tuple[str, str], tuple[float, float, int, str]]],
               regimes: Sequence[str], tasks: Sequence[str], limit_db: float = 0.5) -> Figure:
    """Heat maps of a paired PSNR difference per regime (rows) and task (columns), one panel per comparison.

    Args:
        panels: ``{title: {(regime, task): (mean, std, n, against)}}``: the mean and sample std over ``n`` seeds
            of a paired difference in dB, and the name of the arm it is measured against (written in the square).
            A missing pair is drawn grey and labelled "not run" (or "–" where the task is not in the regime).
        regimes, tasks: the rows and columns, in order.
        limit_db: the colour scale's end (blue above zero, red below); larger values saturate.

    Returns:
        a ``Figure`` with one heat map per panel, each square annotated ``mean ± std`` and the arm.

    Example:
        >>> fig = regime_map({"eqreg": {("base", "denoise"): (-0.1, 0.05, 3, "augment")}}, ["base"], ["denoise", "sr"])
        >>> len(fig.axes)
        2
    """
    fig = figure(1.0 + 2.3 * len(tasks) * len(panels), 0.9 + 0.62 * len(regimes))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for ax, (title, values) in zip(axes, panels.items()):
        grid = np.full((len(regimes), len(tasks)), np.nan)
        for i, regime in enumerate(regimes):
            for j, task in enumerate(tasks):
                mean, std, n, against = values.get((regime, task), (np.nan, 0.0, 0, ""))
                if n:
                    grid[i, j] = mean
                    text = f"{mean:+.2f} ± {std:.2f}\nvs {against}" if n > 1 else f"{mean:+.2f}\nvs {against}"
                else:
                    text = "not run" if (regime, task) in values else ""
                ax.text(j, i, text, ha="center", va="center", fontsize=7.5,
                        color="black" if not n or abs(mean) < 0.6 * limit_db else "white")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu", vmin=-limit_db, vmax=limit_db, aspect="auto")
        ax.set_facecolor("#e6e6e6")
        ax.set_xticks(range(len(tasks)), tasks)
        ax.set_yticks(range(len(regimes)), regimes if ax is axes[0] else [""] * len(regimes))
        ax.tick_params(length=0)
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=list(axes), label="Δ PSNR (dB), paired by seed", shrink=0.8)
    return fig


def regime_figure(summary: Mapping) -> Figure:
    """The regime map of ``docs/regimes.md`` from its summary (``eqlab.zoo.regimes()``): eqreg − the best arm
    that is not soft, one pass (left) and averaged over C4 (right), per regime and task; grey: not run yet.

    Example:
        >>> fig = regime_figure(dict(regimes=["base"], grid=[dict(regime="base", task="sr")], cells=[]))
        >>> len(fig.axes)
        3
    """
    panels = {"eqreg (1 pass) − best non-soft arm": {}, "eqreg + C4 average (4 passes) − best non-soft arm": {}}
    for where in summary["grid"]:
        for values in panels.values():
            values[(where["regime"], where["task"])] = (np.nan, 0.0, 0, "")  # in the grid, not run (yet)
    for cell in summary["cells"]:
        for values, key in zip(panels.values(), ("eqreg", "eqreg_c4")):
            mean, std, n = cell[key]
            if n:
                values[(cell["regime"], cell["task"])] = (mean, std, n, cell["best"])
            else:  # measured nowhere in this cell (the turned test has no averages): blank, not "not run"
                values.pop((cell["regime"], cell["task"]), None)
    tasks = list(dict.fromkeys(w["task"] for w in summary["grid"]))
    order = [t for t in ("denoise", "sr", "deblur") if t in tasks] + [t for t in tasks if t not in
                                                                      ("denoise", "sr", "deblur")]
    fig = regime_map(panels, summary["regimes"], order, limit_db=1.0)
    if summary.get("steps"):  # the regime every square holds: say it on the figure, not only in its caption
        fig.suptitle(f"Blue: eqreg ahead, red: behind · small nets of width 16, {summary['steps']} CPU steps, "
                     f"{len(summary.get('seeds', ()))} seeds each · grey: not measured there",
                     fontsize=9)
    return fig
