"""The app's event functions: each tab's computation wrapped for Gradio, one function per event or endpoint.

What is here: ``make_handlers(app)`` returns the functions ``ui.build_app`` wires to the page and to
the API (their parameter names are the API's). Every function turns a bad input (``InputError``)
into a ``gr.Error`` with a readable message that closes by itself after a while, and any other
failure into one that names it: the server keeps serving, and because every event recomputes its
outputs from the controls' values, the next valid choice repairs the tab. Warnings and notes are
part of each tab's status text (no toasts: a toast would follow the user to other tabs).

The Explore tab has one computation, ``explore_outputs`` (one ``explore.resolve`` per request, then
only the parts an event asks for: controls, view, spectrum, charts, figure); each of its events and
API endpoints is ``explore_endpoint(*parts)``. ``chart`` sends a native chart its data with the
colours of exactly the series it holds (Gradio redraws a chart only when those change).

What is not here: the computations (``explore.py``, ``charts.py``, ``restore.py``, ``training.py``,
``learn.py``) and the page layout and wiring (``ui.py``).
"""

import functools
import inspect
import logging
from types import SimpleNamespace

from eqlab.app.charts import (
    ANGLE_COLUMNS,
    BASELINE_COLOR,
    COMPONENT_COLUMNS,
    LAYER_COLUMNS,
    charts_ready,
    curve_limits,
    explore_charts,
    layer_components,
    plot_df,
    run_colors,
    run_legend,
    shown,
    spectrum_bars,
    spectrum_words,
    train_frames,
)
from eqlab.app.explore import controls, figure_of, resolve, same_element, view_of
from eqlab.app.learn import learn_channels, learn_grid, learn_rotate
from eqlab.app.restore import restore_update, restore_views
from eqlab.app.settings import EXTRA_NET, STRENGTH, InputError, arm_color, known_group, known_task, steps_cap
from eqlab.app.training import SCRATCH, check_train_inputs, start_choices, train_run
from eqlab.arms import ARMS
from eqlab.viz.components import component_color

LOG = logging.getLogger("eqlab.app")
EXPLORE_UI = ("element", "layer", "channel", "strip", "panel", "status", "upload", "spectrum", "spectrum_text",
              "session")  # the outputs of the page's Explore event, in ui.py's order


def chart(rows: list[dict], columns: list[str], color: str, color_of=arm_color, **props):
    """A native chart's new value, with the colours of exactly the series it holds.

    Gradio 6 builds a chart's colour scale once and afterwards only swaps the data: a series that was not
    there at first (a second training run, "yours", D4's components) would get no colour and stay
    invisible. A colour map that changes with the series makes it rebuild the chart.
    """
    import gradio as gr

    df = shown(plot_df(rows, columns))
    if df is None:
        return gr.update(value=None)
    return gr.update(value=df, color_map={name: color_of(name) for name in dict.fromkeys(df[color])}, **props)
TABLE_COLUMNS = ["arm", "weights", "PSNR (dB)", "SSIM", "PSNR, g·x", "SSIM, g·x", "Δ PSNR", "output error e"]
ERROR_SECONDS = 12  # an error message closes by itself after this long


def table_df(table: list[dict]):
    """The score table of ``restore_update`` with readable column names and rounded numbers (empty: the headers)."""
    import pandas as pd

    return pd.DataFrame(columns=TABLE_COLUMNS) if not table else pd.DataFrame([{
        "arm": r["arm"], "weights": r["source"], "PSNR (dB)": round(r["psnr"], 2), "SSIM": round(r["ssim"], 4),
        "PSNR, g·x": round(r["psnr_rot"], 2), "SSIM, g·x": round(r["ssim_rot"], 4),
        "Δ PSNR": round(r["delta_psnr"], 3),
        "output error e": float(f"{r['output_error']:.3g}"),  # three digits: round-off reads 3e-07, not 0
    } for r in table])


def readable(fn):
    """``fn`` with its failures as ``gr.Error`` messages (generators too); the signature is kept for the API."""
    import gradio as gr

    def fail(err: Exception):
        if isinstance(err, gr.Error):
            raise err
        if isinstance(err, InputError):
            raise gr.Error(str(err), title="Cannot do that", duration=ERROR_SECONDS, print_exception=False) from None
        LOG.exception("eqlab app: %s failed", fn.__name__)
        raise gr.Error(f"{type(err).__name__}: {err}", title="Something went wrong (the app keeps running)",
                       duration=ERROR_SECONDS) from None

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - shown to the user, logged
                fail(err)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - shown to the user, logged
                fail(err)
    return wrapper


def make_handlers(app) -> SimpleNamespace:
    """The event functions of the app, bound to ``app``; per-user state stays in each call's ``session``."""
    import gradio as gr

    def session_id(request) -> str:
        return getattr(request, "session_hash", None) or "local"

    # -- Explore: one computation (explore_outputs), every endpoint picks its outputs -------------------
    def explore_endpoint(*parts: str):
        """An Explore event returning ``parts`` of ``explore_outputs``, in that order (the API keeps the names)."""
        def endpoint(task, arm, sample, upload, group, element, layer, channel, session, progress=gr.Progress()):
            out = explore_outputs(task, arm, sample, upload, group, element, layer, channel, session, progress, parts)
            return out[parts[0]] if len(parts) == 1 else tuple(out[p] for p in parts)
        endpoint.__name__ = "explore_" + "_".join(parts)
        return endpoint

    def explore_outputs(task, arm, sample, upload, group, element, layer, channel, session, progress, parts) -> dict:
        """Every output the Explore tab has, computed only when one of ``parts`` needs it."""
        session = session if session is not None else {}
        out = dict(session=session)
        if "element" in parts:  # the page's event: after a group change, g keeps its angle (C4's 180° is C8's 4)
            element = same_element(known_group(session.get("explore_group", "C4")), element, known_group(group))
            session["explore_group"] = group
        request = resolve(app, task, arm, sample, upload, group, element, layer, session, progress)
        if {"element", "layer", "channel"} & set(parts):
            elements, layers, chosen, channels = controls(request)
            out.update(element=gr.Dropdown(choices=elements, value=request.element),
                       layer=gr.Dropdown(choices=layers, value=chosen))
        if {"strip", "panel", "status", "channel", "upload"} & set(parts):
            view = view_of(app, request, channel)
            out.update(strip=view.strip, panel=view.panel, status=view.status,
                       upload=None if view.refused else gr.update(),
                       channel=gr.Slider(minimum=0, maximum=max(view.channels - 1, 1), value=view.channel, step=1,
                                         interactive=view.channels > 1, label=f"Channel (0 … {view.channels - 1})"))
        if "coming" in parts:  # the charts follow this event: say so while they are computed
            ready = charts_ready(app, request.task, sample, upload, group, session)
            out["coming"] = gr.update() if ready else (f"⏳ Computing the charts and the field spectrum of every arm "
                                                       f"for **{request.task} · {request.group.name}** (a few "
                                                       "seconds)…")
        if {"spectrum", "spectrum_text"} & set(parts):  # from the cached charts only: a layer change never waits
            _, _, rows, _ = explore_charts(app, request.task, sample, upload, group, session, compute=False)
            out["spectrum"], out["spectrum_text"] = spectrum_outputs(rows, request)
        if {"layers", "angles", "note"} & set(parts):
            layer_rows, angle_rows, rows, notes = explore_charts(app, request.task, sample, upload, group, session,
                                                                 progress)
            out.update(layers=chart(layer_rows, LAYER_COLUMNS, "arm"), angles=chart(angle_rows, ANGLE_COLUMNS,
                                                                                    "series"),
                       note="\n\n".join(f"ℹ️ {n}" for n in dict.fromkeys(notes)))
            out["spectrum"], out["spectrum_text"] = spectrum_outputs(rows, request)
        if "figure" in parts:
            out["figure"] = figure_of(app, request, channel)
        return out

    def spectrum_outputs(rows, request):
        """The field spectrum of the chosen layer for every arm: a stacked bar chart and its words."""
        position = [lay.name for lay in request.selection].index(request.layer.name) + 1
        table = layer_components(rows, request.layer.name, position) if rows else []
        if not table:
            return gr.update(), gr.update()
        bars = spectrum_bars(table, request.layer.name)
        return (chart(bars, COMPONENT_COLUMNS, "component", component_color,
                      sort=list(dict.fromkeys(b["arm"] for b in bars))),
                spectrum_words(table, request.group.name))

    def explore_charts_api(task, sample, upload, group, session, progress=gr.Progress()):
        out = explore_outputs(task, "eqreg", sample, upload, group, 1, None, 0, session, progress,
                              ("layers", "angles", "note"))
        return out["layers"], out["angles"], out["note"], out["session"]

    # -- Restore & compare -------------------------------------------------------------------------
    def restore(task, strength, sample, upload, rotation, show, session, progress=gr.Progress()):
        maps, table, status, session = restore_update(app, task, strength, sample, upload, rotation, session,
                                                      progress)
        return restore_views(session, show), maps, table_df(table), status, session

    def restore_ui(task, strength, sample, upload, rotation, show, session, progress=gr.Progress()):
        slider, maps, table, status, session = restore(task, strength, sample, upload, rotation, show, session,
                                                       progress)
        refused = "your upload was not used" in status
        return slider, maps, table, status, None if refused else gr.update(), session

    def restore_show(show, session):
        slider = restore_views(session, show)
        if slider is None:
            raise InputError("press “Restore” first")
        return slider

    def restore_controls(task):
        _, spec = STRENGTH[known_task(task)]
        return gr.Slider(**spec)

    # -- Train -------------------------------------------------------------------------------------
    def checked(task, arm, start, group, mode, weight, share, steps, seed, net, color="gray"):
        if net == EXTRA_NET and app.bank.extra_absent:
            raise InputError(f"{EXTRA_NET} is not available: {app.bank.extra_absent}")
        return check_train_inputs(task, arm, start, group, mode, weight, share, steps, seed, steps_cap(app.cuda), net,
                                  color)

    def train_check(task, arm, start, group, mode, weight, share, steps, seed, net, color="gray"):
        checked(task, arm, start, group, mode, weight, share, steps, seed, net, color)

    def train_outputs(runs, status, session, done: bool = True):
        """The six charts (colours by run, the same on every chart; axes with room), the legend, the status.

        The last update of a run (``done``) widens the x axis a little: Gradio redraws a chart whose axis changed,
        from all its data, where a data-only update arriving while it redraws for a new run can be lost.
        """
        frames, colors = train_frames(runs), run_colors(runs)
        steps = max((run.get("steps", 0) for run in runs), default=0)
        plots = []
        for key in ("loss", "reg", "weight", "share", "psnr", "layer"):
            df = shown(frames[key])
            if df is None:
                plots.append(gr.update(value=None))
                continue
            plots.append(gr.update(value=df, color_map={name: colors.get(name, BASELINE_COLOR)
                                                        for name in dict.fromkeys(df["run"])},
                                   **curve_limits(df, steps, key in ("share", "psnr", "layer"), done)))
        return (*plots, run_legend(runs, colors), status, session)

    def train(task, arm, start, group, mode, weight, share, steps, seed, net, color, session, request: gr.Request):
        session = session if session is not None else {}
        values = checked(task, arm, start, group, mode, weight, share, steps, seed, net, color)
        for runs, status, state, done in train_run(app, values, session, session_id(request)):
            yield *train_outputs(runs, status, state, done), state.get("train_token", "")  # for Cancel only

    def cancel_training(token: str = ""):  # the run's token (training.Trainings), not a session hash a client picks
        if app.trainings.stop(token):
            return "Cancelling: the run stops after its current step, validates once more and becomes **yours**."
        return "No training was running."

    def clear_runs(session):
        session = session if session is not None else {}
        session["runs"] = []
        return train_outputs([], "The charts are empty; your last model stays the arm **yours**.", session)

    def train_controls(arm):
        choices = start_choices(arm)
        preferred = "zoo augment" if arm in ARMS and ARMS[arm].penalized else SCRATCH  # switch the penalty on
        return gr.Dropdown(choices=choices, value=preferred if preferred in choices else SCRATCH)

    # -- Learn (wrappers, not the functions themselves: the API keeps these parameter names) --------
    def learn_rotate_fn(angle, sample):
        return learn_rotate(app, angle, sample)

    def learn_channels_fn(k, sample):
        return learn_channels(app, k, sample)

    def learn_grid_fn(angle):
        image, curve, text = learn_grid(app, angle)
        return image, shown(plot_df(curve, ANGLE_COLUMNS)), text

    def learn_diagram():
        from eqlab import viz

        return viz.channel_shift_diagram("C4", ["regular", "pixel_shuffle(2)", "trivial"], 8)

    explore_ui = explore_endpoint(*EXPLORE_UI)
    names = dict(explore_ui=explore_ui, explore_ui_charts=explore_endpoint(*EXPLORE_UI[:7], "session", "coming"),
                 explore_spectrum=explore_endpoint("spectrum", "spectrum_text"),
                 explore=explore_endpoint("strip", "panel", "layers", "angles", "status", "session"),
                 explore_panel=explore_endpoint("strip", "panel", "status", "session"),
                 explore_charts=explore_charts_api,
                 explore_charts_event=explore_endpoint("layers", "angles", "spectrum", "spectrum_text", "note",
                                                       "session"),
                 explore_controls=explore_endpoint("element", "layer", "channel"),
                 explore_figure=explore_endpoint("figure"), restore=restore,
                 restore_ui=restore_ui, restore_show=restore_show, restore_controls=restore_controls,
                 train_check=train_check, train=train, cancel_training=cancel_training, clear_runs=clear_runs,
                 train_controls=train_controls, learn_rotate=learn_rotate_fn, learn_channels=learn_channels_fn,
                 learn_grid=learn_grid_fn, learn_diagram=learn_diagram)
    return SimpleNamespace(**{name: readable(fn) for name, fn in names.items()})
