"""Training curves: task loss, regularizer, gradient share and validation PSNR over the steps.

What is here: ``training_curves`` for one run of ``eqlab.train.fit`` or several arms. What is not
here: training itself (``eqlab.train``) and the weight sweep (``eqlab.viz.errors.weight_tradeoff``).
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from eqlab.viz._common import arm_color, figure

__all__ = ["training_curves"]


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
    fig = figure(11.0, 6.0)
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
                color = arm_color(arm, i) if len(runs) > 1 else "black"
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
