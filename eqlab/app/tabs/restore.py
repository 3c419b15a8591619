"""The Restore & compare tab: its layout, its events and its API endpoints.

The arms on one degraded image: before/after slider, error maps, PSNR/SSIM, and the same with a
rotated input (rotate the input, watch the output rotate).

What is here: ``RestoreTab`` (the event functions ``restore``, ``restore_ui``, ``restore_show`` and the page's
``restore_show_ui``, ``restore_controls``, and :meth:`RestoreTab.build`), ``table_df`` and ``TABLE_COLUMNS``
(the score table).
What is not here: the computation (``eqlab.app.restore``).
"""

from eqlab.app import text
from eqlab.app.guard import local_file
from eqlab.app.restore import restore_update, restore_views
from eqlab.app.settings import (
    DEFAULT_SAMPLE,
    RESTORE_SLOTS,
    SAMPLE_CHOICES,
    STRENGTH,
    TASKS,
    YOURS,
    InputError,
    known_task,
)
from eqlab.app.tabs.common import CONTROLS_WIDTH, MAIN_WIDTH, readable, sample_label

EVENTS = ("restore", "restore_ui", "restore_show", "restore_show_ui", "restore_controls")
TABLE_COLUMNS = ["arm", "weights", "PSNR (dB)", "SSIM", "PSNR, g·x", "SSIM, g·x", "Δ PSNR", "output error e"]


def table_df(table: list[dict]):
    """The score table of ``restore_update`` with readable column names and rounded numbers (empty: the headers)."""
    import pandas as pd

    return pd.DataFrame(columns=TABLE_COLUMNS) if not table else pd.DataFrame([{
        "arm": r["arm"], "weights": r["source"], "PSNR (dB)": round(r["psnr"], 2), "SSIM": round(r["ssim"], 4),
        "PSNR, g·x": round(r["psnr_rot"], 2), "SSIM, g·x": round(r["ssim_rot"], 4),
        "Δ PSNR": round(r["delta_psnr"], 3),
        "output error e": float(f"{r['output_error']:.3g}"),  # three digits: round-off reads 3e-07, not 0
    } for r in table])


SLIDER_LABEL = "before (degraded input) | after (restored): drag"


def slider(session, show: str):
    """The before/after slider of the arm ``show`` (``restore_views``), labelled with the arm it really shows: an
    arm the last restoration did not run ("yours" before any training) falls back to eqreg, and says so."""
    import gradio as gr

    pair = restore_views(session, show)
    if pair is None:
        return gr.ImageSlider(value=None, label=SLIDER_LABEL)
    arms = session["restore"]["arms"]
    shown = show if show in arms else ("eqreg" if "eqreg" in arms else arms[0])
    label = f"before (degraded input) | after: {shown} (drag)"
    if shown != show:
        why = "has no model yet: train one in the Train tab" if show == YOURS else "was not run in this restoration"
        label += f" · “{show}” {why}"
    return gr.ImageSlider(value=pair, label=label)


class RestoreTab:
    """The Restore & compare tab of one ``App``: its event functions and :meth:`build`."""

    def __init__(self, app):
        self.app = app
        import gradio as gr

        def restore(task, strength, sample, upload, rotation, show, session, progress=gr.Progress()):
            """``(slider, maps, table, status, session)`` of every arm on one degraded image."""
            maps, table, status, session, _ = self.compute(task, strength, sample, upload, rotation, session, progress)
            return restore_views(session, show), maps, table_df(table), status, session

        def restore_ui(task, strength, sample, upload, rotation, show, session, progress=gr.Progress()):
            """The page's event: ``restore``'s outputs and the upload box (cleared when it was refused)."""
            maps, table, status, session, refused = self.compute(task, strength, sample, upload, rotation, session,
                                                                 progress)
            return (slider(session, show), maps, table_df(table), status, None if refused else gr.update(),
                    session)

        self.restore, self.restore_ui = restore, restore_ui

    def compute(self, task, strength, sample, upload, rotation, session, progress=None):
        """``restore_update``'s ``(maps, table, status, session)`` and whether the upload was refused."""
        maps, table, status, session = restore_update(self.app, task, strength, sample, upload, rotation, session,
                                                      progress)
        return maps, table, status, session, session["restore"]["refused"]

    @staticmethod
    def restore_show(show, session):
        """The before/after slider of the arm ``show`` from the session's last restoration."""
        pair = restore_views(session, show)
        if pair is None:
            raise InputError("press “Restore” first")
        return pair

    @staticmethod
    def restore_show_ui(show, session):
        """The page's ``restore_show``: the slider with a label that names the arm it really shows."""
        RestoreTab.restore_show(show, session)
        return slider(session, show)

    @staticmethod
    def restore_controls(task):
        """The strength slider of ``task`` (``eqlab.tasks``' ``Strength``)."""
        import gradio as gr

        _, spec = STRENGTH[known_task(task)]
        return gr.Slider(**spec)

    def build(self, session) -> None:
        """Lay the tab out inside the current ``gr.Tabs`` and wire its events and API endpoints."""
        import gradio as gr

        with gr.Tab("Restore & compare", id="restore"):
            self._wire(self._layout(), session)

    def _layout(self):
        """The tab's components, in a namespace."""
        from types import SimpleNamespace

        import gradio as gr

        c = SimpleNamespace()
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=CONTROLS_WIDTH):
                c.task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
                c.strength = gr.Slider(**STRENGTH["denoise"][1])
                c.sample = gr.Dropdown(SAMPLE_CHOICES, value=DEFAULT_SAMPLE, label="Image")
                c.upload = local_file(elem_id="restore-upload", label="…or upload your own", type="filepath",
                                   file_types=["image"], elem_classes="upload")
                c.rotation = gr.Radio(["90°", "180°", "270°"], value="90°", label="Rotate the input by",
                                      info="each net also restores the rotated input g·x")
                c.run = gr.Button("Restore", variant="primary")
                c.show = gr.Radio(self.app.arms(), value="eqreg", label="Slider shows")
            with gr.Column(scale=3, min_width=MAIN_WIDTH):
                c.status = gr.Markdown("Pick a task and press **Restore**: every arm restores the same degraded "
                                       "image, and its rotated copy.", elem_id="restore-status", elem_classes="status")
                c.slider = gr.ImageSlider(elem_id="restore-slider", type="filepath", format="png",
                                          label=SLIDER_LABEL, max_height=420)
                c.maps = gr.Image(elem_id="restore-maps", type="filepath", format="png", interactive=False,
                                  show_label=False, elem_classes="picture", buttons=["download", "fullscreen"])
                c.table = gr.Dataframe(table_df([]), elem_id="restore-table", interactive=False, wrap=True,
                                       label="Scores per arm (PSNR/SSIM on the luma; 'g·x': restore the rotated "
                                             "input, rotate back, score)")
                gr.Markdown("**Output error e** (the table's column “output error e”, the bottom row of the maps). "
                            + text.OUTPUT_SCALE + " Here f is the whole net: its output is an image, so P_g is the "
                            "identity.\n\n" + text.OUTPUT_ERROR, elem_classes="note")
        return c

    def _wire(self, c, session) -> None:
        """The tab's events and its API endpoints."""
        import gradio as gr

        on = {name: readable(getattr(self, name)) for name in EVENTS}
        inputs = [c.task, c.strength, c.sample, c.upload, c.rotation, c.show, session]
        c.run.click(on["restore_ui"], inputs, [c.slider, c.maps, c.table, c.status, c.upload, session],
                    api_name=False, **RESTORE_SLOTS)
        gr.Button(visible=False).click(on["restore"], inputs, [c.slider, c.maps, c.table, c.status, session],
                                       api_name="restore", **RESTORE_SLOTS)
        quick = dict(concurrency_limit=None, show_progress="hidden")
        c.task.input(on["restore_controls"], c.task, c.strength, api_name="restore_controls", **quick)
        c.show.input(on["restore_show_ui"], [c.show, session], c.slider, api_name=False, **quick)
        gr.Button(visible=False).click(on["restore_show"], [c.show, session], c.slider, api_name="restore_show",
                                       **quick)
        # any change of the upload (a new one, cleared by hand or refused by the server) relabels the Image
        c.upload.change(sample_label, c.upload, c.sample, api_name=False, queue=False, show_progress="hidden")
