"""The Explore tab: its layout, its events and its API endpoints.

Does a layer rotate with its input, and how? "Rotate the input" side by side for one channel, the
field panel, the field spectrum of every arm (energy and error per isotypic component:
orientation-carrying or orientation-blind), the per-layer error of every arm, error against angle.

The tab has one computation, :meth:`ExploreTab.outputs` (one ``explore.resolve`` per request, then
only the parts an event asks for: controls, view, spectrum, charts, figure); each of its events and
API endpoints is ``ExploreTab.endpoint(*parts)``, whose parameter names are the API's.

What is not here: the pictures and words (``eqlab.app.explore``), the charts' data (``charts.py``).
"""

from eqlab.app import text
from eqlab.app.charts import (
    ANGLE_COLUMNS,
    COMPONENT_COLUMNS,
    FLOOR,
    LAYER_COLUMNS,
    charts_ready,
    explore_charts,
    layer_components,
    series_legend,
    spectrum_bars,
    spectrum_words,
)
from eqlab.app.explore import explore_controls, explore_figure, explore_view, resolve, same_element
from eqlab.app.first import first_view
from eqlab.app.guard import local_file
from eqlab.app.settings import (
    DEFAULT_SAMPLE,
    EXPLORE_SLOTS,
    EXTRA_NET,
    GROUPS,
    SAMPLE_CHOICES,
    TASKS,
    arm_color,
    known_group,
)
from eqlab.app.tabs.common import CHART_WIDTH, CONTROLS_WIDTH, MAIN_WIDTH, chart, readable, sample_label
from eqlab.groups import get_group
from eqlab.viz.components import component_color

ARM_INFO = "strict: group CNN · yours: the model you train in the Train tab (this browser session)"
EXPLORE_UI = ("element", "layer", "channel", "strip", "panel", "status", "upload", "spectrum", "spectrum_text",
              "session")  # the outputs of the page's Explore event, in the layout's order
ENDPOINTS = dict(  # handler name -> the parts of ExploreTab.outputs it returns, in order
    explore_ui=EXPLORE_UI, explore_ui_charts=(*EXPLORE_UI[:7], "session", "coming"),
    explore_spectrum=("spectrum", "spectrum_text"), explore=("strip", "panel", "layers", "angles", "status", "session"),
    explore_panel=("strip", "panel", "status", "session"),
    explore_charts_event=("layers", "angles", "spectrum", "spectrum_text", "note", "session", "legend"),
    explore_controls=("element", "layer", "channel"), explore_figure=("figure",))


def chart_legend(angle_rows: list[dict]) -> str:
    """The legend of both charts (the arms, and the floor of the output error chart), as wrapping HTML."""
    series = sorted(dict.fromkeys(row["series"] for row in angle_rows), key=lambda name: name == FLOOR)  # arms first
    return series_legend({name: arm_color(name) for name in series}, "explore-legend-entries")


class ExploreTab:
    """The Explore tab of one ``App``: its event functions (attributes named as in ``ENDPOINTS``, plus
    ``explore_charts``) and :meth:`build`, which lays the tab out and wires them."""

    def __init__(self, app):
        self.app = app
        for name, parts in ENDPOINTS.items():
            setattr(self, name, self.endpoint(*parts))
        self.explore_charts = self.charts_endpoint()

    # -- events ------------------------------------------------------------------------------------
    def endpoint(self, *parts: str):
        """An Explore event returning ``parts`` of :meth:`outputs`, in that order (the API keeps the names)."""
        import gradio as gr

        def endpoint(task, arm, sample, upload, group, element, layer, channel, session, progress=gr.Progress()):
            out = self.outputs(task, arm, sample, upload, group, element, layer, channel, session, progress, parts)
            return out[parts[0]] if len(parts) == 1 else tuple(out[p] for p in parts)
        endpoint.__name__ = "explore_" + "_".join(parts)
        return endpoint

    def outputs(self, task, arm, sample, upload, group, element, layer, channel, session, progress, parts) -> dict:
        """Every output the Explore tab has, computed only when one of ``parts`` needs it."""
        import gradio as gr

        session = session if session is not None else {}
        out = dict(session=session)
        if "element" in parts:  # the page's event: after a group change, g keeps its angle (C4's 180° is C8's 4)
            element = same_element(known_group(session.get("explore_group", "C4")), element, known_group(group))
            session["explore_group"] = group
        resolved = resolve(self.app, task, arm, sample, upload, group, element, layer, session, progress)
        if {"element", "layer", "channel"} & set(parts):
            elements, layers, chosen, _ = explore_controls(resolved)
            out.update(element=gr.Dropdown(choices=elements, value=resolved.element),
                       layer=gr.Dropdown(choices=layers, value=chosen))
        if {"strip", "panel", "status", "channel", "upload"} & set(parts):
            view = explore_view(self.app, resolved, channel)
            out.update(strip=view.strip, panel=view.panel, status=view.status,
                       upload=None if view.refused else gr.update(),
                       channel=gr.Slider(minimum=0, maximum=max(view.channels - 1, 1), value=view.channel, step=1,
                                         interactive=view.channels > 1, label=f"Channel (0 … {view.channels - 1})"))
        if "coming" in parts:  # the charts follow this event: say so while they are computed
            ready = charts_ready(self.app, resolved.task, sample, upload, group, session)
            out["coming"] = gr.update() if ready else (f"⏳ Computing the charts and the field spectrum of every arm "
                                                       f"for **{resolved.task} · {resolved.group.name}** (a few "
                                                       "seconds)…")
        if {"spectrum", "spectrum_text"} & set(parts):  # from the cached charts only: a layer change never waits
            _, _, rows, _ = explore_charts(self.app, resolved.task, sample, upload, group, session, compute=False)
            out["spectrum"], out["spectrum_text"] = self.spectrum(rows, resolved)
        if {"layers", "angles", "note"} & set(parts):
            layer_rows, angle_rows, rows, notes = explore_charts(self.app, resolved.task, sample, upload, group,
                                                                 session, progress)
            out.update(layers=chart(layer_rows, LAYER_COLUMNS, "arm"),
                       angles=chart(angle_rows, ANGLE_COLUMNS, "series"),
                       note="\n\n".join(f"ℹ️ {n}" for n in dict.fromkeys(notes)), legend=chart_legend(angle_rows))
            out["spectrum"], out["spectrum_text"] = self.spectrum(rows, resolved)
        if "figure" in parts:
            out["figure"] = explore_figure(self.app, resolved, channel)
        return out

    @staticmethod
    def spectrum(rows, resolved):
        """The field spectrum of the chosen layer for every arm: a stacked bar chart and its words."""
        import gradio as gr

        position = [lay.name for lay in resolved.selection].index(resolved.layer.name) + 1
        table = layer_components(rows, resolved.layer.name, position) if rows else []
        if not table:
            return gr.update(), gr.update()
        bars = spectrum_bars(table, resolved.layer.name)
        return (chart(bars, COMPONENT_COLUMNS, "component", component_color,
                      sort=list(dict.fromkeys(b["arm"] for b in bars))),
                spectrum_words(table, resolved.group.name))

    def charts_endpoint(self):
        """The API's charts of a task, image and group: ``(layers, angles, note, session)``."""
        import gradio as gr

        def explore_charts(task, sample, upload, group, session, progress=gr.Progress()):
            out = self.outputs(task, "eqreg", sample, upload, group, 1, None, 0, session, progress,
                               ("layers", "angles", "note"))
            return out["layers"], out["angles"], out["note"], out["session"]
        return explore_charts

    # -- page --------------------------------------------------------------------------------------
    def build(self, session) -> None:
        """Lay the tab out inside the current ``gr.Tabs`` and wire its events and API endpoints."""
        import gradio as gr

        with gr.Tab("Explore", id="explore"):
            self._wire(self._layout(), session)

    def _wire(self, c, session) -> None:
        """The tab's events (the page's) and its API endpoints (hidden components)."""
        import gradio as gr

        on = {name: readable(getattr(self, name)) for name in (*ENDPOINTS, "explore_charts")}
        inputs = [c.task, c.arm, c.sample, c.upload, c.group, c.element, c.layer, c.channel, session]
        ui_outputs = [c.element, c.layer, c.channel, c.strip, c.panel, c.status, c.upload, c.spectrum,
                      c.spectrum_text, session]  # EXPLORE_UI
        quick_kw = dict(inputs=inputs, api_name=False, trigger_mode="always_last", **EXPLORE_SLOTS,
                        show_progress="minimal")
        charts_kw = dict(fn=on["explore_charts_event"], inputs=inputs,
                         outputs=[c.layers, c.angles, c.spectrum, c.spectrum_text, c.chart_note, session,
                                  c.legend],
                         api_name=False, trigger_mode="always_last", show_progress="minimal", **EXPLORE_SLOTS)
        for event in (c.task.input, c.group.input, c.sample.input, c.upload.upload, c.upload.clear):
            # The spectrum once more from the cache, at once: Gradio 6 drops the colour change of a bar chart
            # updated by a slow event (the new components would stay invisible); a quick one redraws it.
            # .success: a failed step shows its one message and stops the chain (no repeat of the same error)
            event(on["explore_ui_charts"], outputs=ui_outputs[:7] + [session, c.chart_note], **quick_kw).success(
                **charts_kw).success(on["explore_spectrum"], outputs=[c.spectrum, c.spectrum_text], **quick_kw)
        # any change of the upload (a new one, cleared by hand or refused by the server) relabels the Image
        c.upload.change(sample_label, c.upload, c.sample, api_name=False, queue=False, show_progress="hidden")
        # .input, not .release: the channel box, the slider's arrow keys and a drag all update the view
        for event in (c.arm.input, c.element.input, c.layer.input, c.channel.input):
            event(on["explore_ui"], outputs=ui_outputs, **quick_kw)
        c.full.click(lambda: gr.Accordion(open=True), None, c.accordion, queue=False, api_name=False).then(
            on["explore_figure"], inputs=inputs, outputs=c.figure, api_name=False, concurrency_limit=1,
            concurrency_id="figure")
        # API: the whole tab in one call, its parts, the control choices and the figure (hidden
        # components: the channel is a plain number, not bounded by the slider of the session's last layer).
        api = gr.Button(visible=False)
        api_inputs = inputs[:7] + [gr.Number(0, precision=0, visible=False), session]
        api.click(on["explore"], api_inputs, [c.strip, c.panel, c.layers, c.angles, c.status, session],
                  api_name="explore", **EXPLORE_SLOTS)
        api.click(on["explore_panel"], api_inputs, [c.strip, c.panel, c.status, session],
                  api_name="explore_panel", **EXPLORE_SLOTS)
        api.click(on["explore_figure"], api_inputs, c.figure, api_name="explore_figure", concurrency_limit=1,
                  concurrency_id="figure")
        api.click(on["explore_charts"], [c.task, c.sample, c.upload, c.group, session],
                  [c.layers, c.angles, c.chart_note, session], api_name="explore_charts", **EXPLORE_SLOTS)
        api.click(on["explore_controls"], api_inputs, [c.element, c.layer, c.channel],
                  api_name="explore_controls", **EXPLORE_SLOTS)

    def _layout(self):
        """The tab's components (in a namespace), opened with the cached first view."""
        from types import SimpleNamespace

        import gradio as gr

        first, absent = first_view(self.app), self.app.bank.extra_absent
        c = SimpleNamespace()
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=CONTROLS_WIDTH):
                c.task = gr.Dropdown(list(TASKS), value="denoise", label="Task", elem_id="explore-task")
                c.arm = gr.Radio(self.app.arms() + ([EXTRA_NET] if not absent else []), value="eqreg", label="Arm",
                                 info=ARM_INFO)
                c.sample = gr.Dropdown(SAMPLE_CHOICES, value=DEFAULT_SAMPLE, label="Image")
                c.upload = local_file(elem_id="explore-upload", type="filepath", file_types=["image"],
                                   label="…or upload your own (PNG, JPEG, BMP, TIFF)", elem_classes="upload")
                c.group = gr.Radio(list(GROUPS), value="C4", label="Group", elem_id="explore-group",
                                   info=" · ".join(f"{g}: {get_group(g).summary()}" for g in GROUPS))
                c.element = gr.Dropdown(first.elements, value=1, label="Group element g", allow_custom_value=True)
                c.layer = gr.Dropdown(first.layers, value=first.layer or None, label="Layer", allow_custom_value=True,
                                      elem_id="explore-layer", info="each with the representation it has")
                c.channel = gr.Slider(0, max(first.channels - 1, 1), value=0, step=1,
                                      label=f"Channel (0 … {first.channels - 1})", elem_id="explore-channel")
                c.full = gr.Button("Full figure (eqlab.viz, slower)", size="sm")
                if absent:  # below the controls: a note on what is not offered, not the first thing to read
                    gr.Markdown(f"*{EXTRA_NET}* (spandrel's SwinIR) is not offered: {absent}.", elem_classes="note",
                                elem_id="explore-absent")
            with gr.Column(scale=3, min_width=MAIN_WIDTH):
                self._main(c, first)
        return c

    @staticmethod
    def _main(c, first) -> None:
        """The tab's right column: status, pictures, charts and the words on how to read them."""
        import gradio as gr

        picture = dict(type="filepath", format="png", interactive=False, show_label=False, elem_classes="picture",
                       buttons=["download", "fullscreen"])
        c.status = gr.Markdown(first.status, elem_id="explore-status", elem_classes="status")
        c.strip = gr.Image(first.strip, elem_id="explore-strip", **picture)
        gr.Markdown(text.ERROR_SHORT, elem_classes="note")
        c.panel = gr.Image(first.panel, elem_id="explore-panel", **picture)
        c.chart_note = gr.Markdown(first.chart_note, elem_id="explore-chart-note", elem_classes="note")
        c.spectrum = gr.BarPlot(
            first.spectrum_chart, elem_id="explore-spectrum", x="arm", y="share", color="component",
            color_map=first.spectrum_colors, sort=first.spectrum_order, title="Field spectrum of this layer, every arm",
            x_title="arm", color_title="component", y_title="share of the energy (%)",
            tooltip=["arm", "layer", "component", "share", "error"], y_lim=[0, 100], height=280, show_label=False)
        c.spectrum_text = gr.Markdown(first.spectrum_text, elem_id="explore-spectrum-text", elem_classes="note")
        # one legend for both charts, in HTML: a chart's own legend is one row under it that drops what does not fit
        c.legend = gr.HTML(chart_legend(first.angle_rows), elem_id="explore-legend")
        with gr.Row():
            c.layers = gr.LinePlot(
                first.layer_chart, elem_id="explore-layers", x="layer", y="error", color="arm",
                color_map=first.layer_colors, title="Layer error (with P_g), every arm",
                x_title="layer (position · name)", y_title="relative error e", x_label_angle=-40, color_title="arm",
                tooltip=["arm", "name", "error", "worst", "oriented", "verdict"], height=320, show_label=False,
                min_width=CHART_WIDTH, colors_in_legend=[])
            c.angles = gr.LinePlot(
                first.angle_chart, elem_id="explore-angles", x="angle", y="error", color="series",
                color_map=first.angle_colors, x_lim=[0, 180], title="Output error vs angle", color_title="",
                x_title="angle (degrees)", y_title="relative error e", height=320, show_label=False,
                min_width=CHART_WIDTH, colors_in_legend=[])
        with gr.Accordion("How to read the errors", open=True):
            gr.Markdown(text.RELATIVE_ERROR + "\n\n" + text.WHICH + "\n\n" + text.CHARTS + "\n\n"
                        + text.OUTPUT_ERROR + "\n\n" + text.FLOOR, elem_classes="note")
        with gr.Accordion("The same field as a matplotlib figure (eqlab.viz.rotation_panel, same image and layer; "
                          "press the button on the left)", open=False) as c.accordion:
            c.figure = gr.Plot(show_label=False)
