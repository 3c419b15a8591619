"""The app's event functions: each tab's computation wrapped for Gradio, one function per endpoint.

What is here: ``make_handlers(bank)`` returns the functions ``ui.build_app`` wires to the page (each
is also an API endpoint; its parameter names are the API's), turning ``InputError`` into a
``gr.Error``, warnings in a status into toasts, and rows into the DataFrames of the native plots
(``plot_df``, ``table_df``, ``curve_dfs``).

What is not here: the computations (``explore.py``, ``restore.py``, ``train_tab.py``, ``learn.py``)
and the page layout and wiring (``ui.py``).
"""

from types import SimpleNamespace

from eqlab.app.explore import explore_charts, explore_controls, explore_figure, explore_panel, explore_update
from eqlab.app.learn import learn_channels, learn_grid, learn_rotate
from eqlab.app.models import ModelBank
from eqlab.app.restore import restore_update, restore_views
from eqlab.app.settings import STRENGTH, InputError, known_task
from eqlab.app.train_tab import stop_training, train_run

LAYER_COLUMNS = ["layer", "position", "error", "worst", "arm"]
ANGLE_COLUMNS = ["angle", "error", "series"]
STEP_COLUMNS = ["step", "value"]

_NUMERIC = {"step", "value", "angle", "error", "position", "worst"}


def plot_df(rows: list[dict], columns: list[str]):
    """A DataFrame for a native plot; numeric columns stay numeric even when empty (else the plot
    would treat them as categories)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=columns)
    return df.astype({c: "float64" for c in columns if c in _NUMERIC})


def table_df(table: list[dict]):
    """The score table of ``restore_update`` with readable column names and rounded numbers."""
    import pandas as pd

    df = pd.DataFrame([{
        "arm": r["arm"], "weights": r["source"], "PSNR (dB)": round(r["psnr"], 2), "SSIM": round(r["ssim"], 4),
        "PSNR, rotated input": round(r["psnr_rot"], 2), "SSIM, rotated input": round(r["ssim_rot"], 4),
        "Δ PSNR": round(r["delta_psnr"], 3), "output equivariance error": round(r["output_error"], 4),
    } for r in table])
    return df


def curve_dfs(history: list[dict]) -> tuple:
    """Four small tables for the live training plots."""
    def pick(key, scale=1.0):
        return plot_df([dict(step=r["step"], value=r[key] * scale) for r in history if r.get(key) is not None],
                       STEP_COLUMNS)

    return pick("task_loss"), pick("reg_raw"), pick("grad_share"), pick("val_psnr")


def make_handlers(bank: ModelBank) -> SimpleNamespace:
    """The event functions of the app, bound to ``bank``; state stays in each call's ``session``."""
    import gradio as gr

    def fail(err: Exception):
        raise gr.Error(str(err), title="Cannot do that") from None

    def warn(status: str):
        for line in status.split("\n\n"):
            if line.startswith("⚠️"):
                gr.Warning(line[2:].strip())

    def session_id(request) -> str:
        return getattr(request, "session_hash", None) or "local"

    def explore_fn(task, arm, sample, upload, group, element, layer, field, session, progress=gr.Progress()):
        try:
            panel, layer_rows, angle_rows, status, session = explore_update(
                bank, task, arm, sample, upload, group, element, layer, field, session, progress)
        except InputError as err:
            fail(err)
        warn(status)
        return panel, plot_df(layer_rows, LAYER_COLUMNS), plot_df(angle_rows, ANGLE_COLUMNS), status, session

    def explore_panel_fn(task, arm, sample, upload, group, element, layer, field, session, progress=gr.Progress()):
        try:
            panel, status, session = explore_panel(bank, task, arm, sample, upload, group, element, layer, field,
                                                   session, progress)
        except InputError as err:
            fail(err)
        warn(status)
        return panel, status, session

    def explore_charts_fn(task, sample, upload, group, session, progress=gr.Progress()):
        layer_rows, angle_rows, session = explore_charts(bank, task, sample, upload, group, session, progress)
        return plot_df(layer_rows, LAYER_COLUMNS), plot_df(angle_rows, ANGLE_COLUMNS), session

    def explore_controls_fn(task, arm, group, layer, field, session):
        elements, layers, layer, fields = explore_controls(bank, task, arm, group, layer, field, session)
        return (gr.Dropdown(choices=elements, value=elements[0][1]), gr.Dropdown(choices=layers, value=layer),
                gr.Slider(maximum=max(fields - 1, 1), value=min(int(float(field or 0)), fields - 1),
                          interactive=fields > 1, label=f"Field (channel group), 0 … {fields - 1}"))

    def explore_figure_fn(task, arm, sample, upload, group, element, layer, field, session):
        try:
            return explore_figure(bank, task, arm, sample, upload, group, element, layer, field, session)
        except ValueError as err:
            fail(err)

    def restore_fn(task, strength, sample, upload, rotation, show, session, progress=gr.Progress()):
        try:
            images, table, status, session = restore_update(bank, task, strength, sample, upload, rotation, session,
                                                            progress)
        except InputError as err:
            fail(err)
        warn(status)
        return (*restore_views(session, show), table_df(table), status, session)

    def restore_show_fn(show, session):
        slider, gallery = restore_views(session, show)
        if slider is None:
            fail(InputError("press “Restore” first"))
        return slider

    def restore_controls_fn(task):
        _, spec = STRENGTH[known_task(task)]
        return gr.Slider(**spec)

    def train_fn(task, arm, weight, steps, seed, session, request: gr.Request, progress=gr.Progress()):
        try:
            runs = train_run(task, arm, weight, steps, seed, session, session_id(request), progress=progress)
            for history, status, session, done in runs:
                yield (*curve_dfs(history), status, session)
        except InputError as err:
            fail(err)

    def cancel_fn(request: gr.Request):
        stopped = stop_training(session_id(request))
        return "Training cancelled; the partly trained model was discarded." if stopped else "No training was running."

    # Wrappers, not the functions themselves: the API keeps these parameter names and no defaults.
    def learn_rotate_fn(angle, sample):
        return learn_rotate(angle, sample)

    def learn_channels_fn(k, sample):
        return learn_channels(k, sample)

    def learn_grid_fn(angle):
        image, curve, text = learn_grid(angle)
        return image, plot_df(curve, ANGLE_COLUMNS), text

    def shift_diagram_fn():
        from eqlab import viz

        return viz.channel_shift_diagram("C4", ["regular", "pixel_shuffle(2)", "trivial"], 8)

    return SimpleNamespace(
        explore_fn=explore_fn, explore_panel_fn=explore_panel_fn, explore_charts_fn=explore_charts_fn,
        explore_controls_fn=explore_controls_fn, explore_figure_fn=explore_figure_fn, restore_fn=restore_fn,
        restore_show_fn=restore_show_fn, restore_controls_fn=restore_controls_fn, train_fn=train_fn,
        cancel_fn=cancel_fn, learn_rotate_fn=learn_rotate_fn, learn_channels_fn=learn_channels_fn,
        learn_grid_fn=learn_grid_fn, shift_diagram_fn=shift_diagram_fn)
