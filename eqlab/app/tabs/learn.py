"""The Learn tab: the group basics in three interactive pictures (drawn when the tab opens), and the regime map.

It also defines, once, the words eqlab puts beside an error (``text.VOCABULARY``, from ``eqlab.metrics.words``).

What is here: ``LearnTab`` (the event functions ``learn_rotate``, ``learn_channels``, ``learn_grid``,
``learn_diagram``, ``learn_regimes``, whose parameter names are the API's, and :meth:`LearnTab.build`).
What is not here: the pictures and their words (``eqlab.app.learn``).
"""

from eqlab.app import text
from eqlab.app.charts import ANGLE_COLUMNS, plot_df, shown
from eqlab.app.learn import DOCS_PAGES, DOCS_URL, learn_channels, learn_grid, learn_rotate
from eqlab.app.settings import DEFAULT_SAMPLE, SAMPLE_CHOICES
from eqlab.app.tabs.common import CHART_WIDTH, MAIN_WIDTH, TEXT_WIDTH, readable

EVENTS = ("learn_rotate", "learn_channels", "learn_grid", "learn_diagram", "learn_regimes")


class LearnTab:
    """The Learn tab of one ``App``: its event functions (named as in ``EVENTS``) and :meth:`build`."""

    def __init__(self, app):
        self.app = app

    def learn_rotate(self, angle, sample):
        """Picture 1: an image and a feature map, rotated."""
        return learn_rotate(self.app, angle, sample)

    def learn_channels(self, k, sample):
        """Picture 2: the channels of a group CNN cycle under quarter turns."""
        return learn_channels(self.app, k, sample)

    def learn_grid(self, angle):
        """Picture 3: why only multiples of 90° are exact, with the round-trip curve."""
        image, curve, words = learn_grid(self.app, angle)
        return image, shown(plot_df(curve, ANGLE_COLUMNS)), words

    @staticmethod
    def learn_diagram():
        """The channel tables of three representations (``eqlab.viz.channel_shift_diagram``)."""
        from eqlab import viz

        return viz.channel_shift_diagram("C4", ["regular", "pixel_shuffle(2)", "trivial"], 8)

    @staticmethod
    def learn_regimes():
        """The regime map as shipped (``eqlab.zoo.regimes``): its figure and its answer, the words of
        ``docs/regimes.md`` (``eqlab.metrics.words.regime_answer``)."""
        from eqlab import viz, zoo
        from eqlab.metrics import words

        shipped = zoo.regimes()
        answer = words.regime_answer(shipped["cells"])
        regime = (f"*Regime: small nets of width 16, {shipped['steps']} steps, seeds {shipped['seeds']}, one CPU "
                  "thread per run; every cell, its arms and the command of each run are on the "
                  f"[regime map]({DOCS_URL}/{DOCS_PAGES['regimes'][1]}) (`docs/regimes.md`).*")
        return viz.regime_figure(shipped), f"{answer}\n\n{regime}"

    def build(self, session) -> None:
        """Lay the tab out inside the current ``gr.Tabs`` and wire its events and API endpoints."""
        import gradio as gr

        on = {name: readable(getattr(self, name)) for name in EVENTS}
        picture = dict(type="filepath", interactive=False, show_label=False, scale=2, min_width=MAIN_WIDTH,
                       elem_classes="picture", buttons=["fullscreen"])
        with gr.Tab("Learn", id="learn") as tab:
            gr.Markdown("Three pictures of the group behind EQ-Reg. Move the sliders. " + text.ERROR_SHORT)
            with gr.Accordion("The words eqlab uses (beside every error, here and in the notebooks)", open=False,
                              elem_id="learn-vocabulary"):
                gr.Markdown(text.VOCABULARY + "\n\n" + text.WHICH, elem_classes="note")
            sample = gr.Dropdown(SAMPLE_CHOICES, value=DEFAULT_SAMPLE, label="Image", scale=0)
            with gr.Accordion("1 · Rotate an image and a feature map", open=True):
                angle = gr.Slider(0, 360, value=90, step=15, label="rotation angle (degrees)")
                with gr.Row():
                    rot_img = gr.Image(elem_id="learn-rotate", **picture)
                    with gr.Column(min_width=TEXT_WIDTH):
                        rot_text = gr.Markdown(min_height=0)
            with gr.Accordion("2 · Watch the channels cycle", open=True):
                k = gr.Slider(0, 3, value=1, step=1, label="quarter turns k (g = k · 90°)")
                with gr.Row():
                    ch_img = gr.Image(elem_id="learn-channels", **picture)
                    with gr.Column(min_width=TEXT_WIDTH):
                        ch_text = gr.Markdown()
                with gr.Accordion("Channel tables of three representations (eqlab.viz.channel_shift_diagram)",
                                  open=False) as accordion:
                    diagram = gr.Plot(show_label=False)
            with gr.Accordion("3 · Why only 90° is exact", open=True):
                grid_angle = gr.Slider(0, 360, value=30, step=5, label="rotation angle (degrees)")
                with gr.Row():
                    grid_img = gr.Image(elem_id="learn-grid", **picture)
                    with gr.Column(min_width=CHART_WIDTH):
                        curve = gr.LinePlot(elem_id="learn-curve", x="angle", y="error", color="series",
                                            x_lim=[0, 360], x_title="angle (degrees)", y_title="relative error",
                                            color_map={"rotate there and back": "#1f77b4", "you are here": "#d62728"},
                                            title="Round-trip error vs angle", height=260, color_title="")
                        grid_text = gr.Markdown()
            with gr.Accordion("4 · When does soft equivariance pay? The regime map", open=False) as regimes:
                regime_text = gr.Markdown()
                regime_plot = gr.Plot(show_label=False)
            lk = dict(concurrency_limit=None, trigger_mode="always_last")
            rotate_kw = dict(fn=on["learn_rotate"], inputs=[angle, sample], outputs=[rot_img, rot_text])
            channels_kw = dict(fn=on["learn_channels"], inputs=[k, sample], outputs=[ch_img, ch_text])
            grid_kw = dict(fn=on["learn_grid"], inputs=grid_angle, outputs=[grid_img, curve, grid_text])
            # .input, not .release: a drag, the arrow keys and a typed number (without Enter or Tab) all redraw;
            # "always_last" keeps it to one request running and the latest one waiting, however fast the input
            angle.input(**rotate_kw, api_name="learn_rotate", **lk)
            k.input(**channels_kw, api_name="learn_channels", **lk)
            grid_angle.input(**grid_kw, api_name="learn_grid", **lk)
            # .success: a failed picture shows one message and stops the chain (no repeat of the same error)
            sample.input(**rotate_kw, api_name=False, **lk).success(**channels_kw, api_name=False, **lk)
            tab.select(**rotate_kw, api_name=False, **lk).success(**channels_kw, api_name=False, **lk).success(
                **grid_kw, api_name=False, **lk)
            accordion.expand(on["learn_diagram"], None, diagram, api_name="learn_diagram", concurrency_limit=1,
                             concurrency_id="figure")
            regimes.expand(on["learn_regimes"], None, [regime_plot, regime_text], api_name="learn_regimes",
                           concurrency_limit=1, concurrency_id="figure")
