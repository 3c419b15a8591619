"""The Train tab: its layout, its events and its API endpoints.

A short, capped run (from scratch or fine-tuning a zoo net) with live curves, overlaid with the
other runs of this browser session; the result joins the other tabs as the arm "yours".

What is here: ``TrainTab`` (the event functions ``train_check``, ``train``, ``cancel_training``,
``clear_runs``, ``train_controls``, ``penalty_controls`` (the λ controls greyed out for an arm without a
penalty), the chart updates ``outputs``, and :meth:`TrainTab.build`).
What is not here: the checks, the runs and their processes (``eqlab.app.training``), the curves' data
(``charts.py``).
"""

from eqlab.app import text
from eqlab.app.bank import net_summary
from eqlab.app.charts import BASELINE_COLOR, curve_limits, run_colors, run_legend, shown, train_frames
from eqlab.app.settings import (
    EXTRA_NET,
    SHARE_RANGE,
    STEPS_MIN,
    TASKS,
    TRAIN_COLORS,
    TRAIN_GROUPS,
    WEIGHT_MAX,
    InputError,
    steps_cap,
)
from eqlab.app.tabs.common import CHART_WIDTH, CONTROLS_WIDTH, MAIN_WIDTH, readable, session_id
from eqlab.app.training import DEFAULT_SHARE, SCRATCH, check_train_inputs, start_choices, train_run
from eqlab.arms import ARM_NAMES, ARMS

CURVES = ("loss", "reg", "weight", "share", "psnr", "layer")  # the charts, in the order of the outputs
MODE_INFO = "target share: λ adapts so that ‖∇λR‖ / ‖∇task‖ stays at the share"
WEIGHT_INFO = "scale-free norm: 1e-4 mild · 1e-3 strong · ≥ 1e-2 hurts"
EVENTS = ("train_check", "train", "cancel_training", "clear_runs", "train_controls")


class TrainTab:
    """The Train tab of one ``App``: its event functions (named as in ``EVENTS``) and :meth:`build`."""

    def __init__(self, app):
        self.app = app
        import gradio as gr

        def train(task, arm, start, group, mode, weight, share, steps, seed, net, color, session,
                  request: gr.Request):
            """Check the values, run, and yield the charts, the legend, the status and the run's token (for Cancel
            only) while the run goes."""
            session = session if session is not None else {}
            values = self.checked(task, arm, start, group, mode, weight, share, steps, seed, net, color)
            for runs, status, state, done in train_run(self.app, values, session, session_id(request)):
                yield *self.outputs(runs, status, state, done), state.get("train_token", "")

        def cancel_training(token: str = ""):
            """Stop the run that holds ``token`` (``training.Trainings``; not a session hash a client could pick)
            after its current step."""
            if self.app.trainings.stop(token):
                return "Cancelling: the run stops after its current step, validates once more and becomes **yours**."
            return "No training was running."

        self.train, self.cancel_training = train, cancel_training

    def checked(self, task, arm, start, group, mode, weight, share, steps, seed, net, color="gray") -> dict:
        """``training.check_train_inputs`` with this app's step cap and its extra net's availability."""
        if net == EXTRA_NET and self.app.bank.extra_absent:
            raise InputError(f"{EXTRA_NET} is not available: {self.app.bank.extra_absent}")
        return check_train_inputs(task, arm, start, group, mode, weight, share, steps, seed, steps_cap(self.app.cuda),
                                  net, color)

    def train_check(self, task, arm, start, group, mode, weight, share, steps, seed, net, color="gray") -> None:
        """Refuse bad values before the run is queued (a ``gr.Error`` on the page)."""
        self.checked(task, arm, start, group, mode, weight, share, steps, seed, net, color)

    @staticmethod
    def outputs(runs, status, session, done: bool = True):
        """The six charts (colours by run, the same on every chart; axes with room), the legend, the status.

        The last update of a run (``done``) widens the x axis a little: Gradio redraws a chart whose axis changed,
        from all its data, where a data-only update arriving while it redraws for a new run can be lost.
        """
        import gradio as gr

        frames, colors = train_frames(runs), run_colors(runs)
        steps = max((run.get("steps", 0) for run in runs), default=0)
        plots = []
        for key in CURVES:
            df = shown(frames[key])
            if df is None:
                plots.append(gr.update(value=None, show_label=True))
                continue
            plots.append(gr.update(value=df, show_label=False, color_map={name: colors.get(name, BASELINE_COLOR)
                                                        for name in dict.fromkeys(df["run"])},
                                   **curve_limits(df, steps, key in ("share", "psnr", "layer"), done)))
        return (*plots, run_legend(runs, colors), status, session)

    def clear_runs(self, session):
        """Empty the charts; the session's last model stays the arm "yours"."""
        session = session if session is not None else {}
        session["runs"] = []
        return self.outputs([], "The charts are empty; your last model stays the arm **yours**.", session)

    @staticmethod
    def train_controls(arm):
        """The "start from" choices of ``arm``, preferring the zoo's augment net when the arm has a penalty."""
        import gradio as gr

        choices = start_choices(arm)
        preferred = "zoo augment" if arm in ARMS and ARMS[arm].penalized else SCRATCH  # switch the penalty on
        return gr.Dropdown(choices=choices, value=preferred if preferred in choices else SCRATCH)

    @staticmethod
    def penalty_controls(arm):
        """The EQ-Reg weight controls (mode, share, λ): active only for an arm with a penalty (``eqlab.arms``);
        for the others they are greyed out and say why (their values are not used)."""
        import gradio as gr

        on = arm in ARMS and ARMS[arm].penalized
        info = None if on else f"not used: the arm {arm} has no EQ-Reg penalty"
        return (gr.Radio(interactive=on, info=info or MODE_INFO), gr.Number(interactive=on, info=info),
                gr.Number(interactive=on, info=info or WEIGHT_INFO))

    # -- page --------------------------------------------------------------------------------------
    def build(self, session) -> None:
        """Lay the tab out inside the current ``gr.Tabs`` and wire its events and API endpoints."""
        import gradio as gr

        with gr.Tab("Train", id="train"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=CONTROLS_WIDTH):
                    c = self._controls()
                with gr.Column(scale=3, min_width=MAIN_WIDTH):
                    c.status = gr.Markdown("Fine-tune the zoo's **augment** net with EQ-Reg switched on and watch R "
                                           "and the layer error fall; or choose another start.",
                                           elem_id="train-status", elem_classes="status")
                    c.legend = gr.HTML(run_legend([], {}), elem_id="train-legend")  # before a run: what comes
                    c.plots = self._charts()
                    gr.Markdown(text.TRAIN_CURVES + "\n\n" + text.ERROR_SHORT, elem_classes="note")
            self._wire(c, session)

    def _wire(self, c, session) -> None:
        """The tab's events and its API endpoints."""
        import gradio as gr

        on = {name: readable(getattr(self, name)) for name in EVENTS}
        inputs = [c.task, c.arm, c.start, c.group, c.mode, c.weight, c.share, c.steps, c.seed, c.net, c.color]
        outputs = [c.plots[key] for key in CURVES] + [c.legend, c.status, session]
        c.go.click(on["train_check"], inputs, None, api_name=False, concurrency_limit=None).success(
            on["train"], inputs + [session], outputs + [c.token], api_name=False, concurrency_limit=1,
            concurrency_id="train")
        gr.Button(visible=False).click(on["train"], inputs + [session], outputs + [c.token], api_name="train",
                                       concurrency_limit=1, concurrency_id="train")
        c.cancel.click(on["cancel_training"], c.token, c.status, api_name="cancel_training", queue=False)
        c.clear.click(on["clear_runs"], session, outputs, api_name="clear_runs", concurrency_limit=None)
        c.arm.input(on["train_controls"], c.arm, c.start, api_name=False, queue=False)
        c.arm.input(self.penalty_controls, c.arm, [c.mode, c.share, c.weight], api_name=False, queue=False,
                    show_progress="hidden")

    def _controls(self):
        """The tab's left column: what to train, how, how long; the buttons; the caps."""
        from types import SimpleNamespace

        import gradio as gr

        cap, absent, device = steps_cap(self.app.cuda), self.app.bank.extra_absent, "GPU" if self.app.cuda else "CPU"
        c = SimpleNamespace()
        c.task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
        c.arm = gr.Radio(list(ARM_NAMES), value="eqreg", label="Arm")
        c.start = gr.Dropdown(start_choices("eqreg"), value="zoo augment", label="Start from", elem_id="train-start",
                              info="random weights; random convs made C4-equivariant (the net starts as a group "
                                   "CNN); or a zoo net (fine-tuning)")
        c.net = gr.Radio(["task's net"] + ([EXTRA_NET] if not absent else []), value="task's net", label="Net",
                         info=f"{EXTRA_NET}: {absent}" if absent else f"{EXTRA_NET}: spandrel's SwinIR, from scratch")
        c.group = gr.Radio(list(TRAIN_GROUPS), value="C4", label="Group",
                           info="rotations of the paired batch and of the penalty")
        c.mode = gr.Radio(["target share", "fixed λ"], value="target share", label="EQ-Reg weight",
                          elem_id="train-mode",
                          info=MODE_INFO)
        c.share = gr.Number(value=DEFAULT_SHARE, label=f"target gradient share ({SHARE_RANGE[0]:g} … "
                                                       f"{SHARE_RANGE[1]:g})")
        c.weight = gr.Number(value=1e-3, label=f"λ: fixed, or the start (0 … {WEIGHT_MAX:g})", elem_id="train-weight",
                             info=WEIGHT_INFO)
        c.steps = gr.Slider(STEPS_MIN, cap, value=min(200, cap), step=10, elem_id="train-steps",
                            label=f"Steps ({STEPS_MIN} … {cap}, {device} cap)")
        c.seed = gr.Number(value=0, precision=0, label="Seed")
        c.color = gr.Radio(list(TRAIN_COLORS), value="gray", label="Colour",
                           info="rgb: a 3-channel net on colour images (from scratch: the zoo's nets are gray)")
        c.token = gr.Textbox(visible=False)  # the running training's token: only this page can cancel it
        with gr.Row():
            c.go = gr.Button("Train", variant="primary")
            c.cancel = gr.Button("Cancel", variant="stop")
        c.clear = gr.Button("Clear runs", size="sm")
        gr.Markdown("**Nets** (the zoo's recipe): " + "; ".join(f"{t}: {net_summary(t)}" for t in TASKS)
                    + f". **Caps**: {STEPS_MIN} … {cap} steps, 0 ≤ λ ≤ {WEIGHT_MAX:g}; one training at a time (others "
                    "wait in the queue), in a process of its own at a lower priority, "
                    f"on the {device}. The result becomes the arm **yours** of this browser session.",
                    elem_classes="note")
        return c

    @staticmethod
    def _charts() -> dict:
        """The six empty charts of the runs, by key of ``CURVES``."""
        import gradio as gr

        def curve(kind, title: str, y_title: str, **kwargs):
            # value against step, one colour per run; the runs' legend is one HTML block above the charts, which
            # wraps at any width where each chart's own legend would be clipped
            # an empty chart (before the first run) shows its title as the block's label; with data the label
            # goes (it would push the chart below its block) and the chart's own title shows
            return kind(None, x="step", y="value", color="run", title=title, label=title, show_label=True,
                        x_title="step", y_title=y_title, height=260, min_width=CHART_WIDTH, colors_in_legend=[],
                        **kwargs)

        plots = {}
        with gr.Row():
            plots["loss"] = curve(gr.LinePlot, "Task loss (MSE)", "MSE", elem_id="train-loss")
            plots["reg"] = curve(gr.LinePlot, "EQ-Reg penalty R (unweighted)", "R")
        with gr.Row():
            plots["psnr"] = curve(gr.ScatterPlot, "Validation PSNR", "PSNR (dB)", elem_id="train-psnr")
            plots["layer"] = curve(gr.ScatterPlot, "Validation layer error", "relative error e", elem_id="train-layer")
        with gr.Row():
            plots["weight"] = curve(gr.LinePlot, "λ (weight of R)", "λ")
            plots["share"] = curve(gr.ScatterPlot, "Gradient share ‖∇λR‖ / ‖∇task‖", "share")
        return plots
