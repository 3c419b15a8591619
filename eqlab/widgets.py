"""An ipywidgets explorer of equivariance: pick a net, an image, a layer, a field and a rotation.

What is here: ``Explorer`` (and ``explore``, which builds and displays one). Controls: model
(arm), image, layer, field (channel group), group element. Two pictures update in place, as PNG
bytes in ``ipywidgets.Image`` widgets: ``eqlab.viz.rotation_panel`` for the current choice and
``eqlab.viz.layer_error_bars`` of every model on the current image (the bars depend on the
image only, so they are cached per image).

Drive it without a browser (tests do): set a control's ``value`` and the pictures are redrawn
by the widget observers, or call ``update()`` yourself.

    >>> ex = Explorer({"plain": plain_net, "strict": p4_net}, {"camera": x})   # doctest: +SKIP
    >>> ex.controls["layer"].value = "body.0.conv"                             # doctest: +SKIP
    >>> ex.summary                                                             # doctest: +SKIP

What is not here: the figures themselves (``eqlab.viz``). ipywidgets is imported only here.
"""

from __future__ import annotations

import html
import io
import math

import ipywidgets as widgets
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from eqlab import viz
from eqlab.data import center_crop, to_mode
from eqlab.groups import get_group
from eqlab.metrics import equivariance_error, mean_layer_error
from eqlab.models.base import out_channels
from eqlab.tasks import input_multiple

__all__ = ["Explorer", "explore", "figure_png", "DPI"]


DPI = 100  # pictures of about 800 px across at the figures' default sizes: readable in a notebook


def figure_png(fig, dpi: int = DPI) -> bytes:
    """PNG bytes of a ``matplotlib.figure.Figure`` (no file, no pyplot)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _square(x: torch.Tensor, side: int, multiple: int) -> torch.Tensor:
    """``(C, H, W)`` or ``(1, C, H, W)`` -> centred square ``(1, C, s, s)``, ``s <= side`` divisible by ``multiple``."""
    if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4):
        raise ValueError(f"images must be (C, H, W) or (1, C, H, W) tensors, got {getattr(x, 'shape', type(x))}")
    x = x[0] if x.dim() == 4 else x
    s = min(side, *x.shape[-2:]) // multiple * multiple
    if s < multiple:
        raise ValueError(f"an image of shape {tuple(x.shape)} is too small for inputs divisible by {multiple}")
    return center_crop(x, s)[None].float()


class Explorer:
    """Explore how a net's feature maps respond to a rotated input.

    Args:
        models: ``{name: model}``, e.g. ``{"plain": ..., "eqreg": ..., "strict": ...}`` (the names
            colour the bars like ``eqlab.viz.ARM_COLORS``).
        images: ``{name: (C, H, W) image in [0, 1]}``; each is converted to the models' channels
            (gray or RGB) and centre-cropped to a square of at most ``size`` pixels whose side
            every model accepts.
        group: the group (``"C4"`` default; a strict P4 net only knows C4 and C2).
        size: largest side of the crop.
        dpi: resolution of the pictures (``DPI``: the rotation panel is about 1000 px wide, the bars 800).

    Attributes:
        controls: ``{"model", "image", "layer", "field", "element"}`` -> the widgets.
        panel, bars: ``ipywidgets.Image`` widgets holding the two pictures (PNG bytes).
        status: an ``ipywidgets.HTML`` line with the current errors (for the page).
        summary: the same line as plain text (for ``print`` and logs).
        widget: the whole tree (a ``VBox``); the explorer displays as it in a notebook.
        renders: how many times the panel was drawn.
    """

    def __init__(self, models: dict[str, nn.Module], images: dict[str, torch.Tensor], group="C4", size: int = 64,
                 dpi: int = DPI):
        if not models or not isinstance(models, dict):
            raise ValueError("models must be a non-empty {name: nn.Module} dict")
        if not images or not isinstance(images, dict):
            raise ValueError("images must be a non-empty {name: tensor} dict")
        self.models, self.group, self.dpi = dict(models), get_group(group), dpi
        for name, model in self.models.items():
            if not isinstance(model, nn.Module):
                raise TypeError(f"models[{name!r}] must be an nn.Module, got {type(model).__name__}")
            if not viz.feature_layers(model, self.group):
                raise ValueError(f"models[{name!r}] ({type(model).__name__}) has no layer to show for "
                                 f"{self.group.name}")
        multiple = math.lcm(*(input_multiple(getattr(m, "config", {})) for m in self.models.values()))
        channels = {getattr(m, "channels", None) for m in self.models.values()} - {None}
        mode = "rgb" if channels == {3} else "gray"
        self.images = {k: _square(to_mode(v, mode), size, multiple) for k, v in images.items()}
        self._bars_cache: dict[str, bytes] = {}
        self._layer_errors: dict[tuple[str, str, str], float] = {}
        self._busy = False
        self.renders = 0

        first = next(iter(self.models))
        elements = [(f"{e}: {self.group.describe(e)}", e) for e in self.group.elements()]
        self.controls = {
            "model": widgets.Dropdown(options=list(self.models), value=first, description="model"),
            "image": widgets.Dropdown(options=list(self.images), description="image"),
            "layer": widgets.Dropdown(options=[], description="layer"),
            "field": widgets.IntSlider(value=0, min=0, max=0, description="field", continuous_update=False),
            "element": widgets.Dropdown(options=elements, value=1 if self.group.order > 1 else 0, description="g"),
        }
        self.panel = widgets.Image(format="png")
        self.bars = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.summary = ""
        self._refresh_layers()
        self._refresh_fields()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.controls["model"], self.controls["image"], self.controls["element"]]),
            widgets.HBox([self.controls["layer"], self.controls["field"]]),
            self.status, self.panel, self.bars,
        ])
        self.update()

    # -- state ---------------------------------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The net chosen in the model drop-down."""
        return self.models[self.controls["model"].value]

    @property
    def x(self) -> torch.Tensor:
        """The current input, ``(1, C, s, s)``."""
        return self.images[self.controls["image"].value]

    def _refresh_layers(self) -> None:
        names = list(viz.feature_layers(self.model, self.group))
        layer = self.controls["layer"]
        keep = layer.value if layer.value in names else (names[1] if len(names) > 2 else names[0])
        layer.options = names
        layer.value = keep

    def _refresh_fields(self) -> None:
        reps = viz.feature_layers(self.model, self.group)
        name = self.controls["layer"].value
        channels = out_channels(self.model.get_submodule(name))  # conv, linear or strict P4 layer
        size = viz.field_size(reps[name], self.group, channels)
        slider = self.controls["field"]
        slider.max = max(math.ceil(channels / size) - 1, 0)
        slider.value = min(slider.value, slider.max)

    def _on_change(self, change) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            if change["owner"] is self.controls["model"]:
                self._refresh_layers()
            if change["owner"] in (self.controls["model"], self.controls["layer"]):
                self._refresh_fields()
        finally:
            self._busy = False
        self.update()

    # -- drawing -------------------------------------------------------------------------------------
    def _bars_png(self) -> bytes:
        image = self.controls["image"].value
        if image not in self._bars_cache:
            results = {}
            for name, model in self.models.items():
                try:
                    results[name] = equivariance_error(model, self.x, self.group, kinds=("shift", "none"))
                except ValueError:  # e.g. a strict P4 net asked about D4: no representation
                    continue
                for layer in {r["layer"] for r in results[name]}:
                    rows = [r for r in results[name] if r["layer"] == layer]
                    self._layer_errors[(image, name, layer)] = mean_layer_error(rows)
            if results:
                figure = viz.layer_error_bars(results)
            else:  # no model has a representation for this group (e.g. a strict P4 net and D4)
                figure = Figure(figsize=(6, 1), layout="constrained")
                figure.text(0.5, 0.5, f"no per-layer errors: no model has representations for {self.group.name}",
                            ha="center", va="center")
            self._bars_cache[image] = figure_png(figure, self.dpi)
        return self._bars_cache[image]

    def update(self) -> None:
        """Redraw the rotation panel and the error bars for the current controls."""
        c = {k: w.value for k, w in self.controls.items()}
        self.panel.value = figure_png(viz.rotation_panel(self.model, self.x, self.group, c["element"], c["layer"],
                                                         field=c["field"]), self.dpi)
        self.bars.value = self._bars_png()
        self.renders += 1
        error = self._layer_errors.get((c["image"], c["model"], c["layer"]))
        parts = [c["model"], f"layer {c['layer']}", f"field {c['field']}", f"g = {self.group.describe(c['element'])}"]
        if error is not None:
            parts.append(f"mean error of this layer over {self.group.name}: {error:.3g}")
        self.summary = " · ".join(parts)
        marked = [f"<b>{html.escape(parts[0])}</b>", f"layer <code>{html.escape(c['layer'])}</code>"]
        self.status.value = " · ".join(marked + [html.escape(p) for p in parts[2:]])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def explore(models: dict[str, nn.Module], images: dict[str, torch.Tensor], **kwargs) -> Explorer:
    """Build an :class:`Explorer` and display it (in a notebook); returns it for later use."""
    explorer = Explorer(models, images, **kwargs)
    try:
        from IPython.display import display

        display(explorer.widget)
    except ImportError:  # plain Python: nothing to display on
        pass
    return explorer
