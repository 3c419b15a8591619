"""The data of the app's native charts: Explore's per-layer and per-angle errors, the Train tab's curves.

What is here: ``explore_charts`` (the per-layer error of every arm, mean over the group's
non-identity elements, and the output error against the rotation angle with the interpolation floor,
on the same image the Explore panel shows; cached per model, image and group, so only a new task,
image or group computes), ``train_frames`` (the session's runs as the Train tab's tables: task loss,
R, λ, gradient share, validation PSNR with the degraded input's, validation layer error) and
``plot_df`` (a DataFrame whose numeric columns stay numeric when empty) and ``shown`` (what a chart
is given: ``None`` for an empty table).

What is not here: the errors (``eqlab.metrics``), the charts' look (``ui.py``).
"""

from eqlab import metrics
from eqlab.app.inputs import picture
from eqlab.app.settings import ANGLES, ARM_CHOICES, EXPLORE_SIDE, known_group, known_task

LAYER_COLUMNS = ["layer", "position", "error", "worst", "arm"]
ANGLE_COLUMNS = ["angle", "error", "series"]
CURVE_COLUMNS = ["step", "value", "run"]
_NUMERIC = {"step", "value", "angle", "error", "position", "worst"}
FLOOR = "interpolation floor"
BASELINE = "input (degraded)"


def plot_df(rows: list[dict], columns: list[str]):
    """A DataFrame for a native plot; numeric columns stay numeric even when empty (else the plot
    would treat them as categories)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=columns)
    return df.astype({c: "float64" for c in columns if c in _NUMERIC})


def shown(df):
    """What a native chart is given: ``None`` instead of an empty table (Gradio 6 draws no marks in a chart
    that once held an empty table, whatever comes later)."""
    return df if df is not None and len(df) else None


def _arm_rows(app, loaded, pic, group) -> tuple[list[dict], list[dict], str]:
    """Per-layer rows (kind "shift", every non-identity element), per-angle rows and a note, for one model."""
    selection, _ = app.viewable(loaded, group)
    reps = {layer.name: layer.rep for layer in selection}
    note = ""
    with app.computing():
        rows = metrics.equivariance_error(loaded.model, pic.x, group, layers=list(reps), reps=reps, kinds=("shift",))
        try:
            angles = metrics.error_vs_angle(loaded.model, pic.x, ANGLES)
        except (RuntimeError, ValueError) as err:  # e.g. an output larger than its input (sr)
            angles, note = [], f"error vs angle is not available for {loaded.label}: {str(err)[:120]}"
    return rows, angles, note


def explore_charts(app, task: str, sample: str, upload: str | None, group_name: str, session: dict | None = None,
                   progress=None) -> tuple[list[dict], list[dict], list[str]]:
    """``(layer_rows, angle_rows, notes)`` of every arm (and "yours" when the session has one).

    ``layer_rows``: ``layer`` ("01 head", ...), ``position``, ``error`` (mean over elements),
    ``worst``, ``arm``. ``angle_rows``: ``angle``, ``error``, ``series`` (an arm or the floor).
    """
    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    layer_rows, angle_rows, notes = [], [], []
    floor_done = False
    for arm in ARM_CHOICES:
        loaded = app.model(task, arm, session, progress)
        if loaded is None:
            continue
        pic = picture(app.images, sample, upload, getattr(loaded.model, "channels", 1), EXPLORE_SIDE)
        rows, angles, note = app.charts.get_or_make((loaded.key, pic.digest, group.name),
                                                    lambda loaded=loaded, pic=pic: _arm_rows(app, loaded, pic, group))
        notes += [note] if note else []
        order = list(dict.fromkeys(r["layer"] for r in rows))
        for i, name in enumerate(order):
            values = [r["value"] for r in rows if r["layer"] == name]
            layer_rows.append(dict(layer=f"{i + 1:02d} {name}", position=i + 1, error=sum(values) / len(values),
                                   worst=max(values), arm=arm))
        angle_rows += [dict(angle=r["angle_deg"], error=r["value"], series=arm) for r in angles]
        if angles and not floor_done:
            angle_rows += [dict(angle=r["angle_deg"], error=r["floor"], series=FLOOR) for r in angles]
            floor_done = True
    return layer_rows, angle_rows, notes


def train_frames(runs: list[dict]) -> dict:
    """The Train tab's tables from the session's runs (``{"label", "history", "task"}``), overlaid.

    Returns:
        ``{"loss", "reg", "weight", "share", "psnr", "layer"}`` -> DataFrames with columns
        ``step, value, run`` (``psnr`` also has one ``input (degraded, <task>)`` series).
    """
    tables: dict[str, list[dict]] = {k: [] for k in ("loss", "reg", "weight", "share", "psnr", "layer")}
    keys = dict(loss="task_loss", reg="reg_raw", weight="weight", share="grad_share", psnr="val_psnr",
                layer="val_layer_error")
    tasks = {run.get("task") for run in runs}
    for run in runs:
        for record in run["history"]:
            for table, key in keys.items():
                value = record.get(key)
                if isinstance(value, (int, float)) and value == value:
                    tables[table].append(dict(step=record["step"], value=float(value), run=run["label"]))
            base = record.get("val_baseline_psnr")
            if isinstance(base, (int, float)) and base == base:
                name = BASELINE if len(tasks) == 1 else f"{BASELINE[:-1]}, {run.get('task')})"
                tables["psnr"].append(dict(step=record["step"], value=float(base), run=name))
    return {k: plot_df(rows, CURVE_COLUMNS) for k, rows in tables.items()}
