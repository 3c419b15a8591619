"""The page: the ``gr.Blocks`` layout of the four tabs and the wiring of their events.

Four tabs:

    Explore            does a layer rotate with its input? The rotation panel of one layer, field
                       and group element; the per-layer error of every arm; error against angle.
    Restore & compare  the arms on one degraded image: before/after slider, error maps, PSNR/SSIM,
                       and the same with a rotated input (does rotating the input change the answer?).
    Train              a short, capped training run with live curves; the result joins the other
                       tabs as the arm "yours" (per browser session).
    Learn              the group basics in three interactive pictures.

Users never share state: everything per user lives in one ``gr.State`` dict (decoded images, cached
errors, the model trained in the Train tab).

What is here: ``build_app`` (the layout, the API names of the events, their queues and concurrency
limits), the intro text, the offline theme fonts and CSS (``launch.launch_kwargs`` uses them).

What is not here: what the events compute (``handlers.py`` and the tab modules), launching
(``launch.py``).
"""

from eqlab.app.explore import element_choices
from eqlab.app.handlers import STEP_COLUMNS, make_handlers, plot_df
from eqlab.app.models import ModelBank, net_summary
from eqlab.app.settings import (ARM_CHOICES, ARM_COLORS, CUDA, GROUPS, SAMPLE_CHOICES, STEPS_CAP, STEPS_MIN, STRENGTH,
                                TASKS, WEIGHT_MAX)
from eqlab.train import ARMS

THEME_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
CSS = ".status {font-size: 0.95em}"

INTRO = """# eqlab · EQ-Reg explorer
A layer is **rotation-equivariant** when rotating its input rotates its feature maps and cycles their channels:
f(g·x) = P_g rot_g f(x). **EQ-Reg** (CVPR 2025) asks an ordinary restoration CNN to be so, softly, with a penalty
on that difference. Compare four *arms*: **plain** (no rotations), **augment** (rotated copies, no penalty),
**eqreg** (rotated copies + penalty) and **strict** (a group CNN, equivariant by construction).
"""


def _curve_plot(gr, title: str, **kwargs):
    """An empty live training plot (value against step); ``train_fn`` fills it."""
    return gr.LinePlot(plot_df([], STEP_COLUMNS), x="step", y="value", title=title, height=230, **kwargs)


def build_app(models: str = "auto", cache_dir: str | None = None):
    """The ``gr.Blocks`` app (not launched). ``models``: see ``ModelBank``."""
    import gradio as gr

    bank = ModelBank(models, cache_dir)
    arm_colors = {a: ARM_COLORS[a] for a in ARM_CHOICES}
    on = make_handlers(bank)  # the event functions, one per endpoint

    with gr.Blocks(title="eqlab · EQ-Reg explorer") as demo:
        session = gr.State({})
        gr.Markdown(INTRO + f"\n*Models:* {bank.describe()}.")
        with gr.Tabs():
            # Explore ---------------------------------------------------------------------------------
            with gr.Tab("Explore", id="explore"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        ex_task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
                        ex_arm = gr.Radio(ARM_CHOICES, value="eqreg", label="Arm",
                                          info="plain · augment · eqreg (EQ-Reg) · strict (group CNN) · "
                                               "yours (Train tab)")
                        ex_sample = gr.Dropdown(SAMPLE_CHOICES, value="camera", label="Image")
                        ex_upload = gr.File(elem_id="explore-upload", type="filepath",
                                            label="…or upload your own (PNG, JPEG, BMP, TIFF)",
                                            file_types=["image"], height=110)
                        ex_group = gr.Radio(list(GROUPS), value="C4", label="Group",
                                            info="C4: 90° turns · D4: + mirror images · "
                                                 "C8: 45° turns (interpolated)")
                        ex_element = gr.Dropdown(element_choices("C4"), value=1, label="Group element g",
                                                 allow_custom_value=True)
                        ex_layer = gr.Dropdown(["head", "body.0.conv", "body.1.conv", "body.2.conv", "tail"],
                                               value="body.0.conv", label="Layer", allow_custom_value=True)
                        ex_field = gr.Slider(0, 63, value=0, step=1, label="Field (channel group), 0 … 3")
                        ex_full = gr.Button("Full figure (eqlab.viz, slower)", size="sm")
                    with gr.Column(scale=3):
                        ex_status = gr.Markdown(elem_id="explore-status", elem_classes="status")
                        ex_panel = gr.Image(elem_id="explore-panel",
                                            label="Rotation panel: does the layer rotate with its input?",
                                            type="numpy", format="png", interactive=False, show_label=False,
                                            buttons=["download", "fullscreen"])
                        with gr.Row():
                            ex_layers = gr.LinePlot(elem_id="explore-layers", x="layer", y="error", color="arm",
                                                    color_map=arm_colors,
                                                    title="Per-layer equivariance error (with P_g), all arms",
                                                    x_title="layer", y_title="relative error", x_label_angle=-30,
                                                    tooltip=["arm", "layer", "error", "worst"], height=280)
                            ex_angles = gr.LinePlot(elem_id="explore-angles", x="angle", y="error", color="series",
                                                    color_map=ARM_COLORS, x_lim=[0, 180],
                                                    title="Output error vs angle (exact at 90° steps)",
                                                    x_title="angle (degrees)", y_title="relative output error",
                                                    height=280)
                        gr.Markdown("Charts are measured on the centre 64 × 64 crop (every non-identity element, "
                                    "mean over elements). 0 = equivariant, 1.41 ≈ unrelated maps.")
                        with gr.Accordion("The same panel as a matplotlib figure (eqlab.viz.rotation_panel; "
                                          "press the button on the left, takes a few seconds)", open=False) as ex_acc:
                            ex_figure = gr.Plot(show_label=False)
                ex_inputs = [ex_task, ex_arm, ex_sample, ex_upload, ex_group, ex_element, ex_layer, ex_field, session]
                ex_outputs = [ex_panel, ex_layers, ex_angles, ex_status, session]
                ctl_kw = dict(fn=on.explore_controls_fn,
                              inputs=[ex_task, ex_arm, ex_group, ex_layer, ex_field, session],
                              outputs=[ex_element, ex_layer, ex_field], queue=False, api_name=False)
                # The panel depends on everything; the charts only on task, image and group (and are cached).
                panel_kw = dict(fn=on.explore_panel_fn, inputs=ex_inputs, outputs=[ex_panel, ex_status, session],
                                concurrency_limit=2, concurrency_id="compute", trigger_mode="always_last")
                charts_kw = dict(fn=on.explore_charts_fn, inputs=[ex_task, ex_sample, ex_upload, ex_group, session],
                                 outputs=[ex_layers, ex_angles, session], concurrency_limit=2,
                                 concurrency_id="compute", trigger_mode="always_last", show_progress="minimal")
                for comp in [ex_task, ex_arm, ex_group, ex_layer]:
                    ev = comp.input(**ctl_kw).then(**panel_kw, api_name=False)
                    if comp is not ex_layer:
                        ev.then(**charts_kw, api_name=False)
                ex_element.input(**panel_kw, api_name=False)
                ex_field.release(**panel_kw, api_name=False)
                for ev in (ex_sample.input, ex_upload.upload, ex_upload.clear):
                    ev(**panel_kw, api_name=False).then(**charts_kw, api_name=False)
                # API: the whole tab in one call, its two halves, and the control choices.
                hidden = gr.Button(visible=False)
                hidden.click(on.explore_fn, inputs=ex_inputs, outputs=ex_outputs, api_name="explore",
                             concurrency_limit=2, concurrency_id="compute")
                hidden.click(**panel_kw, api_name="explore_panel")
                hidden.click(**charts_kw, api_name="explore_charts")
                hidden.click(**dict(ctl_kw, api_name="explore_controls"))
                ex_full.click(lambda: gr.Accordion(open=True), None, ex_acc, queue=False, api_name=False).then(
                    on.explore_figure_fn, inputs=ex_inputs, outputs=ex_figure, api_name="explore_figure",
                    concurrency_limit=1, concurrency_id="figure")
                demo.load(**ctl_kw).then(**panel_kw, api_name=False).then(**charts_kw, api_name=False)

            # Restore & compare -------------------------------------------------------------------------
            with gr.Tab("Restore & compare", id="restore"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        rs_task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
                        rs_strength = gr.Slider(**STRENGTH["denoise"][1])
                        rs_sample = gr.Dropdown(SAMPLE_CHOICES, value="camera", label="Image")
                        rs_upload = gr.File(elem_id="restore-upload", label="…or upload your own", type="filepath",
                                            file_types=["image"],
                                            height=110)
                        rs_rotation = gr.Radio(["90°", "180°", "270°"], value="90°", label="Rotate the input by",
                                               info="each net also restores the rotated input; "
                                                    "we rotate the answer back")
                        rs_run = gr.Button("Restore", variant="primary")
                        rs_show = gr.Radio(ARM_CHOICES, value="eqreg", label="Slider shows")
                    with gr.Column(scale=3):
                        rs_status = gr.Markdown("Pick a task and press **Restore**: every arm restores the same "
                                                "degraded image.", elem_id="restore-status", elem_classes="status")
                        with gr.Row():
                            rs_slider = gr.ImageSlider(elem_id="restore-slider",
                                                       label="before (degraded input) | after (restored): drag",
                                                       type="numpy", format="png", max_height=420)
                        rs_maps = gr.Image(elem_id="restore-maps", type="numpy",
                                           label="restored images, error maps, rotated-input maps",
                                           format="png", interactive=False, show_label=False,
                                           buttons=["download", "fullscreen"])
                        rs_table = gr.Dataframe(elem_id="restore-table",
                                                label="Scores per arm (PSNR/SSIM on the luma; 'rotated input': "
                                                      "restore g·x, rotate back, score)", interactive=False, wrap=True)
                rs_inputs = [rs_task, rs_strength, rs_sample, rs_upload, rs_rotation, rs_show, session]
                rs_outputs = [rs_slider, rs_maps, rs_table, rs_status, session]
                rs_run.click(on.restore_fn, inputs=rs_inputs, outputs=rs_outputs, api_name="restore",
                             concurrency_limit=2, concurrency_id="compute")
                rs_task.input(on.restore_controls_fn, inputs=rs_task, outputs=rs_strength, api_name="restore_controls",
                              queue=False)
                rs_show.input(on.restore_show_fn, inputs=[rs_show, session], outputs=rs_slider, api_name="restore_show",
                              queue=False)

            # Train -------------------------------------------------------------------------------------
            with gr.Tab("Train", id="train"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        tr_task = gr.Dropdown(list(TASKS), value="denoise", label="Task")
                        tr_arm = gr.Radio(list(ARMS), value="eqreg", label="Arm")
                        tr_weight = gr.Number(value=1e-3, label=f"EQ-Reg weight λ (eqreg only, 0 … {WEIGHT_MAX:g})",
                                              info="scale-free norm: 1e-4 mild · 1e-3 strong · ≥ 1e-2 hurts")
                        tr_steps = gr.Slider(STEPS_MIN, STEPS_CAP, value=min(100, STEPS_CAP), step=10,
                                             elem_id="train-steps",
                                             label=f"Steps ({STEPS_MIN} … {STEPS_CAP}, {'GPU' if CUDA else 'CPU'} cap)")
                        tr_seed = gr.Number(value=0, precision=0, label="Seed")
                        with gr.Row():
                            tr_go = gr.Button("Train", variant="primary")
                            tr_cancel = gr.Button("Cancel", variant="stop")
                        gr.Markdown("**Nets** (as in the other tabs): "
                                    + "; ".join(f"{t}: {net_summary(t)}" for t in TASKS)
                                    + ". The paired arms also see the rotated copies. "
                                    f"**Caps**: {STEPS_MIN} … {STEPS_CAP} steps, "
                                    f"0 ≤ λ ≤ {WEIGHT_MAX:g}; one training at a time (others wait in the queue); "
                                    f"{'runs on the GPU' if CUDA else 'runs on the CPU (no GPU found)'}. "
                                    f"The result becomes the arm **yours** of this browser session.")
                    with gr.Column(scale=3):
                        tr_status = gr.Markdown("Choose an arm and press **Train**.", elem_id="train-status",
                                                elem_classes="status")
                        with gr.Row():
                            tr_loss = _curve_plot(gr, "task loss (MSE)", elem_id="train-loss")
                            tr_reg = _curve_plot(gr, "regularizer R (eqreg only, unweighted)")
                        with gr.Row():
                            tr_share = _curve_plot(gr, "gradient share ‖∇λR‖ / ‖∇task‖ (eqreg)")
                            tr_psnr = _curve_plot(gr, "validation PSNR (dB)", elem_id="train-psnr")
                        gr.Markdown("**Reading the curves.** The task loss should fall. R is the scale-free "
                                    "penalty (0 = every hooked layer equivariant, about 1 = unrelated). The gradient "
                                    "share says how hard λR pulls compared with the task: around 1e-3 it barely "
                                    "matters, near 1 it dominates (and denoising suffers). Validation PSNR is "
                                    "measured on the 5 test images (48 px centre crops) a few times per run.")
                train_event = tr_go.click(on.train_fn, inputs=[tr_task, tr_arm, tr_weight, tr_steps, tr_seed, session],
                                          outputs=[tr_loss, tr_reg, tr_share, tr_psnr, tr_status, session],
                                          api_name="train", concurrency_limit=1, concurrency_id="train")
                tr_cancel.click(on.cancel_fn, inputs=None, outputs=tr_status, cancels=[train_event],
                                api_name="cancel_training", queue=False)

            # Learn -------------------------------------------------------------------------------------
            with gr.Tab("Learn", id="learn"):
                gr.Markdown("Three pictures of the group behind EQ-Reg. Move the sliders.")
                le_sample = gr.Dropdown(SAMPLE_CHOICES, value="camera", label="Image", scale=0)
                with gr.Accordion("1 · Rotate an image and a feature map", open=True):
                    le_angle = gr.Slider(0, 360, value=90, step=15, label="rotation angle (degrees)")
                    with gr.Row():
                        le_rot_img = gr.Image(elem_id="learn-rotate", type="numpy", format="png", interactive=False,
                                              show_label=False,
                                              scale=2)
                        le_rot_text = gr.Markdown()
                with gr.Accordion("2 · Watch the channels cycle", open=True):
                    le_k = gr.Slider(0, 3, value=1, step=1, label="quarter turns k (g = k · 90°)")
                    with gr.Row():
                        le_ch_img = gr.Image(elem_id="learn-channels", type="numpy", format="png", interactive=False,
                                             show_label=False, scale=2)
                        le_ch_text = gr.Markdown()
                    with gr.Accordion("Channel tables of three representations (eqlab.viz.channel_shift_diagram)",
                                      open=False) as le_acc:
                        le_diagram = gr.Plot(show_label=False)
                with gr.Accordion("3 · Why only 90° is exact", open=True):
                    le_grid_angle = gr.Slider(0, 360, value=30, step=5, label="rotation angle (degrees)")
                    with gr.Row():
                        le_grid_img = gr.Image(elem_id="learn-grid", type="numpy", format="png", interactive=False,
                                               show_label=False,
                                               scale=2)
                        with gr.Column():
                            le_curve = gr.LinePlot(elem_id="learn-curve", x="angle", y="error", color="series",
                                                   x_lim=[0, 360],
                                                   color_map={"rotate there and back": "#1f77b4",
                                                              "you are here": "#d62728"},
                                                   title="round-trip error vs angle", height=240)
                            le_grid_text = gr.Markdown()
                lk = dict(concurrency_limit=2, concurrency_id="learn", trigger_mode="always_last")
                le_angle.release(on.learn_rotate_fn, [le_angle, le_sample], [le_rot_img, le_rot_text],
                                 api_name="learn_rotate", **lk)
                le_k.release(on.learn_channels_fn, [le_k, le_sample], [le_ch_img, le_ch_text],
                             api_name="learn_channels", **lk)
                le_grid_angle.release(on.learn_grid_fn, le_grid_angle, [le_grid_img, le_curve, le_grid_text],
                                      api_name="learn_grid", **lk)
                le_sample.input(on.learn_rotate_fn, [le_angle, le_sample], [le_rot_img, le_rot_text], api_name=False,
                                **lk).then(on.learn_channels_fn, [le_k, le_sample], [le_ch_img, le_ch_text],
                                           api_name=False, **lk)
                le_acc.expand(on.shift_diagram_fn, None, le_diagram, api_name="learn_diagram",
                              concurrency_limit=1, concurrency_id="figure")
                demo.load(on.learn_rotate_fn, [le_angle, le_sample], [le_rot_img, le_rot_text], api_name=False, **lk)
                demo.load(on.learn_channels_fn, [le_k, le_sample], [le_ch_img, le_ch_text], api_name=False, **lk)
                demo.load(on.learn_grid_fn, le_grid_angle, [le_grid_img, le_curve, le_grid_text], api_name=False, **lk)
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo
