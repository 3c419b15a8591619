"""The page: the four tabs assembled into one ``gr.Blocks``.

Four tabs, each one module of ``eqlab.app.tabs`` that lays itself out and wires its own events:

    Explore            does a layer rotate with its input, and how? (``tabs/explore.py``)
    Restore & compare  the arms on one degraded image, and on its rotated copy (``tabs/restore.py``)
    Train              a short, capped run with live curves; the result joins the other tabs as the
                       arm "yours" (``tabs/train.py``)
    Learn              the group basics in three interactive pictures (``tabs/learn.py``)

What is here: ``TABS`` (the tabs, in the page's order: a new tab is one module and one entry here),
``build_app`` (the page around them: the intro, the session state, the queue: cheap events run side
by side and the app's compute slots bound the work; one training at a time), the CSS that lets the
layout reflow from 800 px up (below it, pictures keep their drawn width and scroll sideways), and the
offline theme fonts (``launch.launch_kwargs``).

What is not here: what the events compute (the tab modules and the modules they call), launching (``launch.py``).
"""

from eqlab.app import text
from eqlab.app.state import App
from eqlab.app.tabs import ExploreTab, LearnTab, RestoreTab, TrainTab

TABS = (ExploreTab, RestoreTab, TrainTab, LearnTab)
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
@media (max-width: 800px) {
  /* a narrow page would shrink a picture's text to ~6 px: keep pictures at least as wide as they are drawn
     (render.CANVAS_WIDTH) and let them scroll sideways; the fullscreen button shows the whole */
  .picture .image-frame {overflow-x: auto; justify-content: flex-start}
  .picture .image-frame img {min-width: 760px; max-width: none; width: auto; height: auto}
}
"""
CLOSE_TOASTS = "() => document.querySelectorAll('[data-testid=toast-close]').forEach((button) => button.click())"


def build_app(models: str = "auto", cache_dir: str | None = None):
    """The ``gr.Blocks`` app (not launched); ``demo.eqlab`` is its ``App``. ``models``: see ``ModelBank``."""
    import gradio as gr

    app = App(models, cache_dir)
    with gr.Blocks(title="eqlab · EQ-Reg explorer") as demo:
        session = gr.State({})
        gr.Markdown(text.INTRO + f"\n*Models:* {app.bank.describe()}.")
        with gr.Tabs() as tabs:
            for tab in TABS:
                tab(app).build(session)
        # A message belongs to the tab it came from: switching tabs closes the open ones (in the browser only).
        tabs.select(None, None, None, js=CLOSE_TOASTS, api_name=False, queue=False)
    demo.queue(default_concurrency_limit=None, max_size=512)
    demo.eqlab = app
    return demo
