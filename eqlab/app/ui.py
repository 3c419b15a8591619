"""The page: the ``gr.Blocks`` layout of the four tabs and the wiring of their events.

Four tabs:

    Explore            does a layer rotate with its input, and how? "Rotate the input" side by side
                       for one channel, the field panel, the field spectrum of every arm (energy and
                       error per isotypic component: orientation-carrying or orientation-blind), the
                       per-layer error of every arm, error against angle.
    Restore & compare  the arms on one degraded image: before/after slider, error maps, PSNR/SSIM,
                       and the same with a rotated input (rotate the input, watch the output rotate).
    Train              a short, capped run (from scratch or fine-tuning a zoo net) with live curves,
                       overlaid with the other runs of this browser session; the result joins the
                       other tabs as the arm "yours".
    Learn              the group basics in three interactive pictures (drawn when the tab opens).

What is here: ``build_app`` (the layout, the API names of the events, their concurrency: cheap
events run side by side and the app's compute slots bound the work; one training at a time), the
CSS that lets the layout reflow from 800 px up, and the offline theme fonts (``launch.launch_kwargs``).
The Explore tab opens with its default view already in the page (``first.first_view``).

What is not here: what the events compute (``handlers.py`` and the tab modules), launching (``launch.py``).
"""

from eqlab.app import text
from eqlab.app.bank import net_summary
from eqlab.app.first import first_view
from eqlab.app.handlers import make_handlers, table_df
from eqlab.app.settings import (
    DEFAULT_SAMPLE,
    EXTRA_NET,
    GROUPS,
    SAMPLE_CHOICES,
    SHARE_RANGE,
    STEPS_MIN,
    STRENGTH,
    TASKS,
    TRAIN_GROUPS,
    WEIGHT_MAX,
    steps_cap,
)
from eqlab.app.state import App
from eqlab.app.training import DEFAULT_SHARE, start_choices
from eqlab.arms import ARM_NAMES
from eqlab.groups import get_group

THEME_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
CSS = """
.status {font-size: 0.95em}
.note {font-size: 0.88em; color: var(--body-text-color-subdued)}
.upload {min-height: 150px}
.upload .wrap {padding-top: 6px}
.picture img {object-fit: contain}
.run-legend {display: flex; flex-wrap: wrap; gap: 2px 18px; font-size: 0.9em}
.run-legend .entry {white-space: nowrap}
"""
CLOSE_TOASTS = "() => document.querySelectorAll('[data-testid=toast-close]').forEach((button) => button.click())"
ARM_INFO = "strict: group CNN · yours: the model you train in the Train tab (this browser session)"
CONTROLS_WIDTH, MAIN_WIDTH, CHART_WIDTH = 270, 500, 380  # px: below their sum the columns stack
TEXT_WIDTH = 320  # px: a Learn picture's text; below MAIN_WIDTH + this it goes under the picture, which keeps its size


def _curve(gr, kind, title: str, y_title: str, **kwargs):
    """An empty Train chart (value against step, one colour per run; the runs' legend is one HTML block above the
    charts, which wraps at any width where each chart's own legend would be clipped)."""
    return kind(None, x="step", y="value", color="run", title=title, show_label=False, x_title="step",
                y_title=y_title, height=260, min_width=CHART_WIDTH, colors_in_legend=[], **kwargs)  # the legend: HTML


def build_app(models: str = "auto", cache_dir: str | None = None):
    """The ``gr.Blocks`` app (not launched); ``demo.eqlab`` is its ``App``. ``models``: see ``ModelBank``."""
    import gradio as gr

    app = App(models, cache_dir)
    on = make_handlers(app)
    first = first_view(app)
    cap = steps_cap(app.cuda)
    absent = app.bank.extra_absent
    arm_choices = app.arms() + ([EXTRA_NET] if not absent else [])

    with gr.Blocks(title="eqlab · EQ-Reg explorer") as demo:
        session = gr.State({})
        gr.Markdown(text.INTRO + f"\n*Models:* {app.bank.describe()}.")
        with gr.Tabs() as tabs:
            # Explore ---------------------------------------------------------------------------------
            with gr.Tab("Explore", id="explore"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=CONTROLS_WIDTH):
                        ex_task = gr.Dropdown(list(TASKS), value="denoise", label="Task", elem_id="explore-task")
                        ex_arm = gr.Radio(arm_choices, value="eqreg", label="Arm",
                                          info=ARM_INFO)
                        if absent:
                            gr.Markdown(f"*{EXTRA_NET}* (spandrel's SwinIR) is not offered: {absent}.",
                                        elem_classes="note")
                        ex_sample = gr.Dropdown(SAMPLE_CHOICES, value=DEFAULT_SAMPLE, label="Image")
                        ex_upload = gr.File(elem_id="explore-upload", type="filepath", file_types=["image"],
                                            label="…or upload your own (PNG, JPEG, BMP, TIFF)", elem_classes="upload")
                        ex_group = gr.Radio(list(GROUPS), value="C4", label="Group", elem_id="explore-group",
                                            info=" · ".join(f"{g}: {get_group(g).summary()}" for g in GROUPS))
                        ex_element = gr.Dropdown(first.elements, value=1, label="Group element g",
                                                 allow_custom_value=True)
                        ex_layer = gr.Dropdown(first.layers, value=first.layer or None, label="Layer",
                                               allow_custom_value=True, elem_id="explore-layer",
                                               info="each with the representation it has")
                        ex_channel = gr.Slider(0, max(first.channels - 1, 1), value=0, step=1,
                                               label=f"Channel (0 … {first.channels - 1})", elem_id="explore-channel")
                        ex_full = gr.Button("Full figure (eqlab.viz, slower)", size="sm")
                    with gr.Column(scale=3, min_width=MAIN_WIDTH):
                        ex_status = gr.Markdown(first.status, elem_id="explore-status", elem_classes="status")
                        ex_strip = gr.Image(first.strip, elem_id="explore-strip", type="filepath", format="png",
                                            interactive=False, show_label=False, elem_classes="picture",
                                            buttons=["download", "fullscreen"])
                        gr.Markdown(text.ERROR_SHORT, elem_classes="note")
                        ex_panel = gr.Image(first.panel, elem_id="explore-panel", type="filepath", format="png",
                                            interactive=False, show_label=False, elem_classes="picture",
                                            buttons=["download", "fullscreen"])
                        ex_chart_note = gr.Markdown(first.chart_note, elem_id="explore-chart-note", elem_classes="note")
                        ex_spectrum = gr.BarPlot(
                            first.spectrum_chart, elem_id="explore-spectrum", x="arm", y="share", color="component",
                            color_map=first.spectrum_colors, sort=first.spectrum_order,
                            title="Field spectrum of this layer, every arm", x_title="arm", color_title="component",
                            y_title="share of the energy (%)", tooltip=["arm", "layer", "component", "share", "error"],
                            y_lim=[0, 100], height=280, show_label=False)
                        ex_spectrum_text = gr.Markdown(first.spectrum_text, elem_id="explore-spectrum-text",
                                                       elem_classes="note")
                        with gr.Row():
                            ex_layers = gr.LinePlot(
                                first.layer_chart, elem_id="explore-layers", x="layer", y="error", color="arm",
                                color_map=first.layer_colors, title="Layer error (with P_g), every arm",
                                x_title="layer (position · name)", y_title="relative error e", x_label_angle=-40,
                                color_title="arm", tooltip=["arm", "name", "error", "worst", "oriented", "verdict"],
                                height=320, show_label=False, min_width=CHART_WIDTH)
                            ex_angles = gr.LinePlot(
                                first.angle_chart, elem_id="explore-angles", x="angle", y="error", color="series",
                                color_map=first.angle_colors, x_lim=[0, 180], title="Output error vs angle",
                                color_title="", x_title="angle (degrees)", y_title="relative error e", height=320,
                                show_label=False, min_width=CHART_WIDTH)
                        with gr.Accordion("How to read the errors", open=True):
                            gr.Markdown(text.RELATIVE_ERROR + "\n\n" + text.WHICH + "\n\n" + text.CHARTS + "\n\n"
                                        + text.OUTPUT_ERROR + "\n\n" + text.FLOOR, elem_classes="note")
                        with gr.Accordion("The same field as a matplotlib figure (eqlab.viz.rotation_panel, same "
                                          "image and layer; press the button on the left)", open=False) as ex_acc:
                            ex_figure = gr.Plot(show_label=False)
                ex_inputs = [ex_task, ex_arm, ex_sample, ex_upload, ex_group, ex_element, ex_layer, ex_channel, session]
                ui_outputs = [ex_element, ex_layer, ex_channel, ex_strip, ex_panel, ex_status, ex_upload, ex_spectrum,
                              ex_spectrum_text, session]  # handlers.EXPLORE_UI
                quick_kw = dict(inputs=ex_inputs, api_name=False, concurrency_limit=None, trigger_mode="always_last",
                                show_progress="minimal")
                charts_kw = dict(fn=on.explore_charts_event, inputs=ex_inputs,
                                 outputs=[ex_layers, ex_angles, ex_spectrum, ex_spectrum_text, ex_chart_note, session],
                                 api_name=False, concurrency_limit=None, trigger_mode="always_last",
                                 show_progress="minimal")
                for event in (ex_task.input, ex_group.input, ex_sample.input, ex_upload.upload, ex_upload.clear):
                    # The spectrum once more from the cache, at once: Gradio 6 drops the colour change of a bar chart
                    # updated by a slow event (the new components would stay invisible); a quick one redraws it.
                    event(on.explore_ui_charts, outputs=ui_outputs[:7] + [session, ex_chart_note], **quick_kw).then(
                        **charts_kw).then(on.explore_spectrum, outputs=[ex_spectrum, ex_spectrum_text], **quick_kw)
                # .input, not .release: the channel box, the slider's arrow keys and a drag all update the view
                for event in (ex_arm.input, ex_element.input, ex_layer.input, ex_channel.input):
                    event(on.explore_ui, outputs=ui_outputs, **quick_kw)
                ex_full.click(lambda: gr.Accordion(open=True), None, ex_acc, queue=False, api_name=False).then(
                    on.explore_figure, inputs=ex_inputs, outputs=ex_figure, api_name=False,
                    concurrency_limit=1, concurrency_id="figure")
                # API: the whole tab in one call, its parts, the control choices and the figure (hidden
                # components: the channel is a plain number, not bounded by the slider of the session's last layer).
                api = gr.Button(visible=False)
                api_inputs = ex_inputs[:7] + [gr.Number(0, precision=0, visible=False), session]
                api.click(on.explore, api_inputs, [ex_strip, ex_panel, ex_layers, ex_angles, ex_status, session],
                          api_name="explore", concurrency_limit=None)
                api.click(on.explore_panel, api_inputs, [ex_strip, ex_panel, ex_status, session],
                          api_name="explore_panel", concurrency_limit=None)
                api.click(on.explore_figure, api_inputs, ex_figure, api_name="explore_figure", concurrency_limit=1,
                          concurrency_id="figure")
                api.click(on.explore_charts, [ex_task, ex_sample, ex_upload, ex_group, session],
                          [ex_layers, ex_angles, ex_chart_note, session], api_name="explore_charts",
                          concurrency_limit=None)
                api.click(on.explore_controls, api_inputs, [ex_element, ex_layer, ex_channel],
                          api_name="explore_controls", concurrency_limit=None)

            # Restore & compare -------------------------------------------------------------------------
            with gr.Tab("Restore & compare", id="restore"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=CONTROLS_WIDTH):
                        rs_task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
                        rs_strength = gr.Slider(**STRENGTH["denoise"][1])
                        rs_sample = gr.Dropdown(SAMPLE_CHOICES, value=DEFAULT_SAMPLE, label="Image")
                        rs_upload = gr.File(elem_id="restore-upload", label="…or upload your own", type="filepath",
                                            file_types=["image"], elem_classes="upload")
                        rs_rotation = gr.Radio(["90°", "180°", "270°"], value="90°", label="Rotate the input by",
                                               info="each net also restores the rotated input g·x")
                        rs_run = gr.Button("Restore", variant="primary")
                        rs_show = gr.Radio(app.arms(), value="eqreg", label="Slider shows")
                    with gr.Column(scale=3, min_width=MAIN_WIDTH):
                        rs_status = gr.Markdown("Pick a task and press **Restore**: every arm restores the same "
                                                "degraded image, and its rotated copy.", elem_id="restore-status",
                                                elem_classes="status")
                        rs_slider = gr.ImageSlider(elem_id="restore-slider", type="filepath", format="png",
                                                   label="before (degraded input) | after (restored): drag",
                                                   max_height=420)
                        rs_maps = gr.Image(elem_id="restore-maps", type="filepath", format="png", interactive=False,
                                           show_label=False, elem_classes="picture", buttons=["download", "fullscreen"])
                        rs_table = gr.Dataframe(table_df([]), elem_id="restore-table", interactive=False, wrap=True,
                                                label="Scores per arm (PSNR/SSIM on the luma; 'g·x': restore the "
                                                      "rotated input, rotate back, score)")
                        gr.Markdown("**Output error e** (the table's last column, the bottom row of the maps). "
                                    + text.OUTPUT_SCALE + " Here f is the whole net: its output is an image, so P_g is "
                                    "the identity.\n\n" + text.OUTPUT_ERROR, elem_classes="note")
                rs_inputs = [rs_task, rs_strength, rs_sample, rs_upload, rs_rotation, rs_show, session]
                rs_run.click(on.restore_ui, rs_inputs, [rs_slider, rs_maps, rs_table, rs_status, rs_upload, session],
                             api_name=False, concurrency_limit=None)
                gr.Button(visible=False).click(on.restore, rs_inputs, [rs_slider, rs_maps, rs_table, rs_status,
                                                                       session], api_name="restore",
                                               concurrency_limit=None)
                quick = dict(concurrency_limit=None, show_progress="hidden")
                rs_task.input(on.restore_controls, rs_task, rs_strength, api_name="restore_controls", **quick)
                rs_show.input(on.restore_show, [rs_show, session], rs_slider, api_name="restore_show", **quick)

            # Train -------------------------------------------------------------------------------------
            with gr.Tab("Train", id="train"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=CONTROLS_WIDTH):
                        tr_task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
                        tr_arm = gr.Radio(list(ARM_NAMES), value="eqreg", label="Arm")
                        tr_start = gr.Dropdown(start_choices("eqreg"), value="zoo augment", label="Start from",
                                               elem_id="train-start",
                                               info="random weights; random convs made C4-equivariant (the "
                                                    "net starts as a group CNN); or a zoo net (fine-tuning)")
                        tr_net = gr.Radio(["task's net"] + ([EXTRA_NET] if not absent else []),
                                          value="task's net", label="Net",
                                          info=f"{EXTRA_NET}: {absent}" if absent else
                                          f"{EXTRA_NET}: spandrel's SwinIR, from scratch")
                        tr_group = gr.Radio(list(TRAIN_GROUPS), value="C4", label="Group",
                                            info="rotations of the paired batch and of the penalty")
                        tr_mode = gr.Radio(["target share", "fixed λ"], value="target share", label="EQ-Reg weight",
                                           elem_id="train-mode",
                                           info="target share: λ adapts so that ‖∇λR‖ / ‖∇task‖ stays at the share")
                        tr_share = gr.Number(value=DEFAULT_SHARE, label=f"target gradient share ({SHARE_RANGE[0]:g} … "
                                                              f"{SHARE_RANGE[1]:g})")
                        tr_weight = gr.Number(value=1e-3, label=f"λ: fixed, or the start (0 … {WEIGHT_MAX:g})",
                                              elem_id="train-weight",
                                              info="scale-free norm: 1e-4 mild · 1e-3 strong · ≥ 1e-2 hurts")
                        tr_steps = gr.Slider(STEPS_MIN, cap, value=min(200, cap), step=10, elem_id="train-steps",
                                             label=f"Steps ({STEPS_MIN} … {cap}, {'GPU' if app.cuda else 'CPU'} cap)")
                        tr_seed = gr.Number(value=0, precision=0, label="Seed")
                        with gr.Row():
                            tr_go = gr.Button("Train", variant="primary")
                            tr_cancel = gr.Button("Cancel", variant="stop")
                        tr_clear = gr.Button("Clear runs", size="sm")
                        gr.Markdown("**Nets** (the zoo's recipe): " + "; ".join(f"{t}: {net_summary(t)}" for t in TASKS)
                                    + f". **Caps**: {STEPS_MIN} … {cap} steps, 0 ≤ λ ≤ {WEIGHT_MAX:g}; one training at "
                                    "a time (others wait in the queue), in a process of its own at a lower priority, "
                                    f"on the {'GPU' if app.cuda else 'CPU'}. The result becomes the arm **yours** of "
                                    "this browser session.", elem_classes="note")
                    with gr.Column(scale=3, min_width=MAIN_WIDTH):
                        tr_status = gr.Markdown("Fine-tune the zoo's **augment** net with EQ-Reg switched on and "
                                                "watch R and the layer error fall; or choose another start.",
                                                elem_id="train-status", elem_classes="status")
                        tr_legend = gr.HTML("", elem_id="train-legend")
                        with gr.Row():
                            tr_loss = _curve(gr, gr.LinePlot, "Task loss (MSE)", "MSE", elem_id="train-loss")
                            tr_reg = _curve(gr, gr.LinePlot, "EQ-Reg penalty R (unweighted)", "R")
                        with gr.Row():
                            tr_psnr = _curve(gr, gr.ScatterPlot, "Validation PSNR", "PSNR (dB)", elem_id="train-psnr")
                            tr_layer = _curve(gr, gr.ScatterPlot, "Validation layer error", "relative error e",
                                              elem_id="train-layer")
                        with gr.Row():
                            tr_weight_plot = _curve(gr, gr.LinePlot, "λ (weight of R)", "λ")
                            tr_share_plot = _curve(gr, gr.ScatterPlot, "Gradient share ‖∇λR‖ / ‖∇task‖", "share")
                        gr.Markdown(text.TRAIN_CURVES + "\n\n" + text.ERROR_SHORT, elem_classes="note")
                tr_inputs = [tr_task, tr_arm, tr_start, tr_group, tr_mode, tr_weight, tr_share, tr_steps, tr_seed,
                             tr_net]
                tr_outputs = [tr_loss, tr_reg, tr_weight_plot, tr_share_plot, tr_psnr, tr_layer, tr_legend, tr_status,
                              session]
                tr_go.click(on.train_check, tr_inputs, None, api_name=False, concurrency_limit=None).success(
                    on.train, tr_inputs + [session], tr_outputs, api_name=False, concurrency_limit=1,
                    concurrency_id="train")
                gr.Button(visible=False).click(on.train, tr_inputs + [session], tr_outputs, api_name="train",
                                               concurrency_limit=1, concurrency_id="train")
                tr_cancel.click(on.cancel_training, None, tr_status, api_name="cancel_training", queue=False)
                tr_clear.click(on.clear_runs, session, tr_outputs, api_name="clear_runs", concurrency_limit=None)
                tr_arm.input(on.train_controls, tr_arm, tr_start, api_name=False, queue=False)

            # Learn -------------------------------------------------------------------------------------
            with gr.Tab("Learn", id="learn") as learn_tab:
                gr.Markdown("Three pictures of the group behind EQ-Reg. Move the sliders. " + text.ERROR_SHORT)
                le_sample = gr.Dropdown(SAMPLE_CHOICES, value=DEFAULT_SAMPLE, label="Image", scale=0)
                with gr.Accordion("1 · Rotate an image and a feature map", open=True):
                    le_angle = gr.Slider(0, 360, value=90, step=15, label="rotation angle (degrees)")
                    with gr.Row():
                        le_rot_img = gr.Image(elem_id="learn-rotate", type="filepath", interactive=False,
                                              show_label=False, scale=2, min_width=MAIN_WIDTH, elem_classes="picture",
                                              buttons=["fullscreen"])
                        with gr.Column(min_width=TEXT_WIDTH):
                            le_rot_text = gr.Markdown(min_height=0)
                with gr.Accordion("2 · Watch the channels cycle", open=True):
                    le_k = gr.Slider(0, 3, value=1, step=1, label="quarter turns k (g = k · 90°)")
                    with gr.Row():
                        le_ch_img = gr.Image(elem_id="learn-channels", type="filepath", interactive=False,
                                             show_label=False, scale=2, min_width=MAIN_WIDTH, elem_classes="picture",
                                             buttons=["fullscreen"])
                        with gr.Column(min_width=TEXT_WIDTH):
                            le_ch_text = gr.Markdown()
                    with gr.Accordion("Channel tables of three representations (eqlab.viz.channel_shift_diagram)",
                                      open=False) as le_acc:
                        le_diagram = gr.Plot(show_label=False)
                with gr.Accordion("3 · Why only 90° is exact", open=True):
                    le_grid_angle = gr.Slider(0, 360, value=30, step=5, label="rotation angle (degrees)")
                    with gr.Row():
                        le_grid_img = gr.Image(elem_id="learn-grid", type="filepath", interactive=False,
                                               show_label=False, scale=2, min_width=MAIN_WIDTH, elem_classes="picture",
                                               buttons=["fullscreen"])
                        with gr.Column(min_width=CHART_WIDTH):
                            le_curve = gr.LinePlot(elem_id="learn-curve", x="angle", y="error", color="series",
                                                   x_lim=[0, 360], x_title="angle (degrees)", y_title="relative error",
                                                   color_map={"rotate there and back": "#1f77b4",
                                                              "you are here": "#d62728"},
                                                   title="Round-trip error vs angle", height=260, color_title="")
                            le_grid_text = gr.Markdown()
                lk = dict(concurrency_limit=None, trigger_mode="always_last")
                rotate_kw = dict(fn=on.learn_rotate, inputs=[le_angle, le_sample], outputs=[le_rot_img, le_rot_text])
                channels_kw = dict(fn=on.learn_channels, inputs=[le_k, le_sample], outputs=[le_ch_img, le_ch_text])
                grid_kw = dict(fn=on.learn_grid, inputs=le_grid_angle, outputs=[le_grid_img, le_curve, le_grid_text])
                le_angle.release(**rotate_kw, api_name="learn_rotate", **lk)
                le_k.release(**channels_kw, api_name="learn_channels", **lk)
                le_grid_angle.release(**grid_kw, api_name="learn_grid", **lk)
                le_sample.input(**rotate_kw, api_name=False, **lk).then(**channels_kw, api_name=False, **lk)
                learn_tab.select(**rotate_kw, api_name=False, **lk).then(**channels_kw, api_name=False, **lk).then(
                    **grid_kw, api_name=False, **lk)
                le_acc.expand(on.learn_diagram, None, le_diagram, api_name="learn_diagram", concurrency_limit=1,
                              concurrency_id="figure")
        # A message belongs to the tab it came from: switching tabs closes the open ones (in the browser only).
        tabs.select(None, None, None, js=CLOSE_TOASTS, api_name=False, queue=False)
    demo.queue(default_concurrency_limit=None, max_size=512)
    demo.eqlab = app
    return demo
