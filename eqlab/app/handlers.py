"""The app's event functions: each tab's computation wrapped for Gradio, one function per event or endpoint.

What is here: ``make_handlers(app)`` returns the functions ``ui.build_app`` wires to the page and to
the API (their parameter names are the API's). Every function turns a bad input (``InputError``)
into a ``gr.Error`` with a readable message that closes by itself after a while, and any other
failure into one that names it: the server keeps serving, and because every event recomputes its
outputs from the controls' values, the next valid choice repairs the tab. Warnings and notes are
part of each tab's status text (no toasts: a toast would follow the user to other tabs).

What is not here: the computations (``explore.py``, ``charts.py``, ``restore.py``, ``training.py``,
``learn.py``) and the page layout and wiring (``ui.py``).
"""

import functools
import inspect
import logging
from types import SimpleNamespace

from eqlab.app.charts import ANGLE_COLUMNS, LAYER_COLUMNS, plot_df, shown, train_frames
from eqlab.app.explore import explore_controls, explore_figure, explore_view
from eqlab.app.learn import learn_channels, learn_grid, learn_rotate
from eqlab.app.restore import restore_update, restore_views
from eqlab.app.settings import EXTRA_NET, STRENGTH, InputError, known_task, steps_cap
from eqlab.app.training import SCRATCH, check_train_inputs, start_choices, train_run
from eqlab.arms import ARMS

LOG = logging.getLogger("eqlab.app")
ERROR_SECONDS = 12  # an error message closes by itself after this long


def table_df(table: list[dict]):
    """The score table of ``restore_update`` with readable column names and rounded numbers."""
    import pandas as pd

    return pd.DataFrame([{
        "arm": r["arm"], "weights": r["source"], "PSNR (dB)": round(r["psnr"], 2), "SSIM": round(r["ssim"], 4),
        "PSNR, rotated input": round(r["psnr_rot"], 2), "SSIM, rotated input": round(r["ssim_rot"], 4),
        "Δ PSNR": round(r["delta_psnr"], 3), "output error e": round(r["output_error"], 4),
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

    def controls(task, arm, group, layer, channel, session):
        elements, layers, layer, channels = explore_controls(app, task, arm, group, layer, session)
        return layers, layer, channels, elements

    # -- Explore -----------------------------------------------------------------------------------
    def explore_ui(task, arm, sample, upload, group, element, layer, channel, session, progress=gr.Progress()):
        """The page's Explore event: the controls that depend on net and group, and the view, together."""
        session = session if session is not None else {}
        layers, layer, channels, elements = controls(task, arm, group, layer, channel, session)
        view = explore_view(app, task, arm, sample, upload, group, element, layer, channel, session, progress)
        shown = [e for _, e in elements]
        try:
            element = int(str(element).split(":")[0])
        except (TypeError, ValueError):
            element = shown[0]
        return (gr.Dropdown(choices=elements, value=element if element in shown else shown[0]),
                gr.Dropdown(choices=layers, value=view.layer),
                gr.Slider(minimum=0, maximum=max(view.channels - 1, 1), value=view.channel, step=1,
                          interactive=view.channels > 1, label=f"Channel (0 … {view.channels - 1})"),
                view.strip, view.panel, view.status, None if view.refused else gr.update(), session)

    def explore_panel(task, arm, sample, upload, group, element, layer, channel, session):
        view = explore_view(app, task, arm, sample, upload, group, element, layer, channel, session)
        return view.strip, view.panel, view.status, session

    def explore_charts(task, sample, upload, group, session, progress=gr.Progress()):
        from eqlab.app.charts import explore_charts as charts

        layer_rows, angle_rows, notes = charts(app, task, sample, upload, group, session, progress)
        note = "\n\n".join(f"ℹ️ {n}" for n in dict.fromkeys(notes))
        return shown(plot_df(layer_rows, LAYER_COLUMNS)), shown(plot_df(angle_rows, ANGLE_COLUMNS)), note, session

    def explore(task, arm, sample, upload, group, element, layer, channel, session, progress=gr.Progress()):
        strip, panel, status, session = explore_panel(task, arm, sample, upload, group, element, layer, channel,
                                                      session)
        layers, angles, note, session = explore_charts(task, sample, upload, group, session, progress)
        return strip, panel, layers, angles, status, session

    def explore_controls_api(task, arm, group, layer, channel, session):
        layers, layer, channels, elements = controls(task, arm, group, layer, channel, session)
        return (gr.Dropdown(choices=elements, value=elements[0][1]), gr.Dropdown(choices=layers, value=layer),
                gr.Slider(maximum=max(channels - 1, 1), value=0, interactive=channels > 1,
                          label=f"Channel (0 … {channels - 1})"))

    def explore_full_figure(task, arm, sample, upload, group, element, layer, channel, session):
        return explore_figure(app, task, arm, sample, upload, group, element, layer, channel, session)

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
    def checked(task, arm, start, group, mode, weight, share, steps, seed, net):
        if net == EXTRA_NET and app.bank.extra_absent:
            raise InputError(f"{EXTRA_NET} is not available: {app.bank.extra_absent}")
        return check_train_inputs(task, arm, start, group, mode, weight, share, steps, seed, steps_cap(app.cuda), net)

    def train_check(task, arm, start, group, mode, weight, share, steps, seed, net):
        checked(task, arm, start, group, mode, weight, share, steps, seed, net)

    def train_outputs(runs, status, session):
        frames = train_frames(runs)
        plots = [shown(frames[k]) for k in ("loss", "reg", "weight", "share", "psnr", "layer")]
        return (*plots, status, session)

    def train(task, arm, start, group, mode, weight, share, steps, seed, net, session, request: gr.Request):
        session = session if session is not None else {}
        values = checked(task, arm, start, group, mode, weight, share, steps, seed, net)
        for runs, status, state, _ in train_run(app, values, session, session_id(request)):
            yield train_outputs(runs, status, state)

    def cancel_training(request: gr.Request):
        if app.trainings.stop(session_id(request)):
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

    names = dict(explore_ui=explore_ui, explore=explore, explore_panel=explore_panel, explore_charts=explore_charts,
                 explore_controls=explore_controls_api, explore_figure=explore_full_figure, restore=restore,
                 restore_ui=restore_ui, restore_show=restore_show, restore_controls=restore_controls,
                 train_check=train_check, train=train, cancel_training=cancel_training, clear_runs=clear_runs,
                 train_controls=train_controls, learn_rotate=learn_rotate_fn, learn_channels=learn_channels_fn,
                 learn_grid=learn_grid_fn, learn_diagram=learn_diagram)
    return SimpleNamespace(**{name: readable(fn) for name, fn in names.items()})
