"""The data of the app's native charts: Explore's field spectrum, per-layer and per-angle errors, the Train curves.

What is here: ``explore_charts`` (for every arm, ``eqlab.metrics.equivariance_components`` of every
layer over the group's non-identity elements, and from it the per-layer error with its
orientation-carrying share and verdict, one x label per position; the output error against the
rotation angle with the interpolation floor; on the same image the Explore panel shows; cached per
model, image and group, so only a new task, image or group computes), ``charts_ready`` (whether
that cache answers at once), ``layer_components`` / ``spectrum_bars`` / ``spectrum_words`` (the field
spectrum of one layer for every arm, from those rows), ``train_frames`` (the session's runs as the
Train tab's tables: task loss, R, λ, gradient share, validation PSNR with the degraded input's,
validation layer error), ``run_colors`` / ``run_legend`` / ``curve_limits`` (the Train charts'
colours by run number, their shared legend, their axis limits), ``series_legend`` (a legend of
named series that wraps, for the Explore charts), ``plot_df`` (a DataFrame whose
numeric columns stay numeric when empty) and ``shown`` (what a chart is given: ``None`` for an
empty table).

What is not here: the errors (``eqlab.metrics``), the charts' look (``tabs/explore.py``, ``tabs/train.py``).
"""

from concurrent.futures import ThreadPoolExecutor

from eqlab import metrics
from eqlab.app.inputs import picture
from eqlab.app.settings import ANGLES, COMPUTE_SLOTS, EXPLORE_SIDE, YOURS, InputError, known_group, known_task
from eqlab.metrics.components import summarize_components

LAYER_COLUMNS = ["layer", "position", "name", "error", "worst", "oriented", "verdict", "arm"]
COMPONENT_COLUMNS = ["arm", "component", "share", "error", "layer"]
ANGLE_COLUMNS = ["angle", "error", "series"]
CURVE_COLUMNS = ["step", "value", "run"]
_NUMERIC = {"step", "value", "angle", "error", "position", "worst", "oriented", "share"}
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
    """Component rows (every layer and non-identity element, ``eqlab.metrics.equivariance_components``),
    per-angle rows and a note, for one model."""
    selection, _ = app.viewable(loaded, group)
    reps = {layer.name: layer.rep for layer in selection}
    note = ""
    with app.computing():
        rows = metrics.equivariance_components(loaded.model, pic.x, group, layers=list(reps), reps=reps)
        try:
            angles = metrics.error_vs_angle(loaded.model, pic.x, ANGLES)
        except (RuntimeError, ValueError) as err:  # e.g. an output larger than its input (sr)
            angles, note = [], f"error vs angle is not available for {loaded.label}: {str(err)[:120]}"
    return rows, angles, note


def _arm_inputs(app, task, sample, upload, session, progress=None):
    """``(arm, loaded, picture)`` of every arm the app shows for ``task`` (yours when the session has one)."""
    for arm in app.arms():
        try:
            loaded = app.model(task, arm, session, progress)
        except InputError:  # an extra zoo arm this task lacks
            continue
        if loaded is not None:
            yield arm, loaded, picture(app.images, sample, upload, getattr(loaded.model, "channels", 1), EXPLORE_SIDE)


def charts_ready(app, task: str, sample: str, upload: str | None, group_name: str, session: dict | None = None) -> bool:
    """Whether the charts of these choices are cached (their event answers at once), without loading any net."""
    group, task = known_group(group_name), known_task(task)
    if not all(arm == YOURS or app.bank.has(task, arm) for arm in app.arms()):
        return False  # a net still to load: its charts are not ready either
    try:
        return all(app.charts.get((loaded.key, pic.digest, group.name)) is not None
                   for _, loaded, pic in _arm_inputs(app, task, sample, upload, session or {}))
    except Exception:  # noqa: BLE001 - a net not loaded yet, a bad upload: not ready
        return False


def explore_charts(app, task: str, sample: str, upload: str | None, group_name: str, session: dict | None = None,
                   progress=None, compute: bool = True) -> tuple[list[dict], list[dict], list[dict], list[str]]:
    """``(layer_rows, angle_rows, component_rows, notes)`` of every arm (and "yours" when the session has one).

    ``layer_rows``: ``layer`` (the position and the layer names there, e.g. ``"07 body.5 / refine"`` when the
    arms' nets differ: one tick per position), ``position``, ``name`` (the arm's own layer), ``error`` (mean
    over elements, centred maps), ``worst``, ``oriented`` (the share of the energy that carries orientation),
    ``verdict``, ``arm``. ``angle_rows``: ``angle``, ``error``, ``series`` (an arm or the floor).
    ``component_rows``: the rows of ``eqlab.metrics.equivariance_components`` with ``arm`` and
    ``position`` added. With ``compute=False`` only cached arms are returned (nothing is computed).
    """
    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    per_arm, angle_rows, component_rows, notes = [], [], [], []
    floor_done = False
    arms = list(_arm_inputs(app, task, sample, upload, session, progress))

    def one(item):
        _, loaded, pic = item
        key = (loaded.key, pic.digest, group.name)
        if compute:
            return app.charts.get_or_make(key, lambda: _arm_rows(app, loaded, pic, group))
        return app.charts.get(key)

    # The arms side by side, as in Restore: torch releases the GIL, each request uses one intra-op thread.
    with ThreadPoolExecutor(max_workers=COMPUTE_SLOTS) as pool:
        results = list(pool.map(one, arms))
    for (arm, _, _), result in zip(arms, results):
        if result is None:  # not cached (compute=False)
            continue
        rows, angles, note = result
        notes += [note] if note else []
        order = list(dict.fromkeys(r["layer"] for r in rows))
        position = {name: i + 1 for i, name in enumerate(order)}
        component_rows += [dict(r, arm=arm, position=position[r["layer"]]) for r in rows]
        for name in order:
            mine = [r for r in rows if r["layer"] == name]
            errors = [summarize_components([r for r in mine if r["element"] == e])["error"]
                      for e in dict.fromkeys(r["element"] for r in mine)]
            whole = summarize_components(mine)
            per_arm.append(dict(position=position[name], name=name, error=sum(errors) / len(errors),
                                worst=max(errors), oriented=whole["oriented_share"], verdict=whole["verdict"],
                                arm=arm))
        angle_rows += [dict(angle=r["angle_deg"], error=r["value"], series=arm) for r in angles]
        if angles and not floor_done:
            angle_rows += [dict(angle=r["angle_deg"], error=r["floor"], series=FLOOR) for r in angles]
            floor_done = True
    names: dict[int, list[str]] = {}
    for row in per_arm:
        names.setdefault(row["position"], [])
        if row["name"] not in names[row["position"]]:
            names[row["position"]].append(row["name"])
    layer_rows = [dict(row, layer=f"{row['position']:02d} {' / '.join(names[row['position']])}") for row in per_arm]
    return layer_rows, angle_rows, component_rows, notes


def layer_components(component_rows: list[dict], layer: str, position: int) -> list[dict]:
    """The field spectrum of one layer for every arm: the layer of that name, or the one at the same position
    in a net that lacks it (a strict twin's ``refine``).

    Returns:
        one dict per arm and component (``eqlab.viz.pool_components``, pooled over the elements): ``arm``,
        ``layer``, ``component``, ``oriented``, ``share``, ``error``, and per arm ``summary`` (the keys of
        ``eqlab.metrics.components.summarize_components``) on its first row.
    """
    from eqlab.viz.components import pool_components

    by_arm: dict[str, list[dict]] = {}
    for row in component_rows:
        by_arm.setdefault(row["arm"], []).append(row)
    out = []
    for arm, rows in by_arm.items():
        names = {r["layer"] for r in rows}
        mine = [r for r in rows if (r["layer"] == layer if layer in names else r["position"] == position)]
        if not mine:
            continue
        summary = summarize_components(mine)
        for k, c in enumerate(pool_components(mine)):
            out.append(dict(arm=arm, layer=mine[0]["layer"], component=c["component"], oriented=c["oriented"],
                            share=c["share"], error=c["value"], summary=summary if k == 0 else None))
    return out


def spectrum_bars(table: list[dict], layer: str) -> list[dict]:
    """The field-spectrum chart's rows (``COMPONENT_COLUMNS``) from ``layer_components``: one bar per arm (named
    with its layer when that is not ``layer``), stacked by component, the share in percent."""
    return [dict(arm=r["arm"] if r["layer"] == layer else f"{r['arm']} ({r['layer']})", component=r["component"],
                 share=100 * r["share"], error=r["error"], layer=r["layer"]) for r in table]


def spectrum_words(table: list[dict], group: str) -> str:
    """One line per arm under the field-spectrum chart: "orientation-carrying energy x %, its error y" and the
    verdict of ``eqlab.metrics.verdict`` (rows of ``layer_components``)."""
    lines = [f"**Field spectrum** ({group}, every g ≠ e): the share of the layer's energy in each isotypic component "
             "of its representation; grey is the invariant part (the field mean, which no channel shift can see), "
             "colours the parts that carry orientation (hover a bar for its error)."]
    for row in table:
        s = row["summary"]
        if s is None:
            continue
        if s["blind"] is None:
            words = f"no orientation-carrying component · error {s['error']:.2f}: {s['verdict']}"
        else:
            words = (f"orientation-carrying energy **{max(0.0, 100 * s['oriented_share']):.0f} %**, its error "
                     f"**{s['oriented_error']:.2f}** · whole layer {s['error']:.2f} · {s['verdict']}")
        lines.append(f"- **{row['arm']}** (`{row['layer']}`): {words}")
    return "\n".join(lines)


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


RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")  # by run number
BASELINE_COLOR = "#333333"  # the degraded input's PSNR: never a run's colour


def run_colors(runs: list[dict]) -> dict[str, str]:
    """One colour per run (by its number, the same on every chart) and one for the degraded input's series."""
    colors = {run["label"]: RUN_COLORS[(run.get("number", i + 1) - 1) % len(RUN_COLORS)] for i, run in enumerate(runs)}
    tasks = {run.get("task") for run in runs}
    for run in runs:
        colors[BASELINE if len(tasks) == 1 else f"{BASELINE[:-1]}, {run.get('task')})"] = BASELINE_COLOR
    return colors


NO_RUNS = ('<div class="run-legend" id="train-legend-entries"><span>No run yet: press <b>Train</b>. '
           "The six charts below fill as it goes: task loss, EQ-Reg penalty R, validation PSNR, validation layer "
           "error, λ and the gradient share, one colour per run.</span></div>")


def run_legend(runs: list[dict], colors: dict[str, str]) -> str:
    """The Train charts' shared legend as HTML (it wraps at any width, where a chart's own legend is clipped);
    before the first run, what the empty charts will show (``NO_RUNS``)."""
    if not runs:
        return NO_RUNS
    items = [f'<span class="entry"><span style="color:{colors[run["label"]]}">━●</span> {run["label"]}</span>'
             for run in runs]
    items.append(f'<span class="entry"><span style="color:{BASELINE_COLOR}">○</span> {BASELINE}: the PSNR of the '
                 "degraded input, no net (PSNR chart only)</span>")
    return '<div class="run-legend" id="train-legend-entries">' + "".join(items) + "</div>"


def series_legend(colors: dict[str, str], elem_id: str) -> str:
    """A legend of named series as HTML, one entry per name of ``colors`` (name -> colour), wrapping at any
    width: a native chart's own legend sits in one row under the chart and drops what does not fit."""
    items = [f'<span class="entry"><span style="color:{color}">━●</span> {name}</span>'
             for name, color in colors.items()]
    return f'<div class="run-legend" id="{elem_id}">' + "".join(items) + "</div>"


def curve_limits(df, steps: int, pad_y: bool, done: bool = True) -> dict:
    """``x_lim`` (0 … the planned steps, with a little room on both sides; a little more once the run is ``done``)
    and, for the sparse validation charts, a ``y_lim`` with room above and below (no point on a chart's edge)."""
    # Odd factors: the axis ends between two ticks, so no tick label sits at the edge touching its neighbour.
    limits = dict(x_lim=[-0.03 * max(steps, 1), max(steps, 1) * (1.044 if done else 1.047)])
    if pad_y and df is not None and len(df):
        low, high = float(df["value"].min()), float(df["value"].max())
        pad = max((high - low) * 0.12, abs(high) * 0.01, 1e-3)
        limits["y_lim"] = [float(f"{low - pad:.3g}"), float(f"{high + pad:.3g}")]
    return limits
