"""What every tab shares: the column widths of the page, readable errors, native charts with their colours.

What is here: the widths below which the columns stack (``CONTROLS_WIDTH``, ``MAIN_WIDTH``,
``CHART_WIDTH``, ``TEXT_WIDTH``), ``readable`` (an event function whose failures become ``gr.Error``
messages that close by themselves: a bad input (``InputError``) reads as given, any other failure
names its type and is logged; the server keeps serving, and because every event recomputes its
outputs from the controls' values, the next valid choice repairs the tab), ``chart`` (a native
chart's new value with the colours of exactly the series it holds), ``sample_label`` (the Image dropdown's
label while an upload is shown) and ``session_id``.

What is not here: any tab (``tabs/explore.py``, ``restore.py``, ``train.py``, ``learn.py``).
"""

import functools
import inspect
import logging

from eqlab.app.charts import plot_df, shown
from eqlab.app.settings import InputError, arm_color

LOG = logging.getLogger("eqlab.app")
CONTROLS_WIDTH, MAIN_WIDTH, CHART_WIDTH = 270, 500, 380  # px: below their sum the columns stack
TEXT_WIDTH = 320  # px: a Learn picture's text; below MAIN_WIDTH + this it goes under the picture, which keeps its size
ERROR_SECONDS = 6  # an error message closes by itself after this long
IMAGE_LABELS = ("Image", "Image: not used while your upload is shown (clear the upload to use it)")


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


def sample_label(upload) -> dict:
    """The Image dropdown's new label: it says so while an upload is shown instead of the chosen image."""
    import gradio as gr

    return gr.update(label=IMAGE_LABELS[bool(upload)])


def session_id(request) -> str:
    """The browser session of a Gradio request (``"local"`` for a direct call)."""
    return getattr(request, "session_hash", None) or "local"
