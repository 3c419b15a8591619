"""The Explore tab's pictures: does one layer rotate with its input?

What is here: ``explore_controls`` (the choices that depend on net and group: elements, layers
labelled with their representation, channels), ``explore_view`` (for one arm, image, group
element, layer and channel: the side-by-side "rotate the input" strip, x | g·x | f(x) |
P_g rot_g f(x) | f(g·x) | difference, and the field panel, every channel of the field in the rows
rot_g f(x), P_g rot_g f(x), f(g·x), difference; both with colour bars and the errors) and
``explore_figure`` (the same layer, field and image as a matplotlib figure, ``eqlab.viz``).

Every choice is valid for every arm: an unknown layer, element or channel falls back to one the
net has, with a note, so the next valid choice always repairs the tab. The numbers and maps are
``eqlab.metrics.rotation_view``'s (the one computation ``eqlab.viz.rotation_panel`` draws too);
this module only draws them, from the app's caches: a channel change redraws, a layer or element
change computes one view, a view many users ask for is computed once.

What is not here: the charts (``charts.py``), the errors themselves (``eqlab.metrics``), the Gradio
wiring (``handlers.py``, ``ui.py``).
"""

import math
from dataclasses import dataclass, field

import torch

from eqlab.app.inputs import picture
from eqlab.app.render import Bar, feature_scale, gray, save_png, tile_for
from eqlab.app.settings import EXPLORE_SIDE, YOURS, arm_help, known_group, known_task
from eqlab.app.text import read_error
from eqlab.data import limit_side
from eqlab.groups import Group, field_size


@dataclass
class View:
    """What the Explore tab shows for one set of choices."""

    strip: str  # PNG path: the side-by-side "rotate the input" picture of one channel
    panel: str  # PNG path: every channel of that channel's field
    status: str  # Markdown: what is shown, the errors, warnings and notes
    layer: str  # the layer shown (after any fall-back)
    channel: int  # the channel shown
    channels: int  # the layer's channels
    numbers: dict = field(default_factory=dict)  # with_shift, without, channel, field errors
    refused: bool = False  # the upload was refused (the page clears it)


def element_choices(group: Group) -> list[tuple[str, int]]:
    """``(label, element)`` for every non-identity element; C8's odd elements say they are interpolated."""
    labels = []
    for e in group.elements()[1:]:
        text = f"{e}: {group.describe(e)}"
        if not group.exact and e % 2:
            text += " (interpolated)"
        labels.append((text, e))
    return labels


def layer_label(layer) -> str:
    """A layer as the dropdown lists it: its name and the representation it has."""
    role = {"output": " (output image)", "pixel_shuffle": " (feeds PixelShuffle)"}.get(layer.role, "")
    return f"{layer.name} · {layer.rep.name}{role}"


def describe_rep(layer, group: Group, channels: int, index: torch.Tensor) -> str:
    """What ``P_g`` does to this layer's channels, in words."""
    size = max(1, field_size(layer.rep, group, channels))
    fields = math.ceil(channels / size)
    name = layer.rep.name
    if name.startswith("pixel_shuffle"):
        moves = ", ".join(f"{int(index[c])}→{c}" for c in range(min(size, channels)))
        return (f"{channels} channels = {fields} block(s) of {size} sub-pixels that PixelShuffle interleaves; "
                f"P_g rotates each map and moves the sub-pixels ({moves})")
    if name == "trivial":
        what = "image-valued" if layer.role == "output" else "compared as plain maps"
        return f"{channels} channel(s), {what}: P_g is the identity (rotate only, no channel shift)"
    if name == "regular":
        return (f"{channels} channels = {fields} field(s) of {size}, one channel per element of {group.name}: "
                f"P_g permutes the channels inside each field")
    return f"{channels} channels in fields of {size} ({name})"


def _parse_element(group: Group, element) -> tuple[int, list[str]]:
    try:
        e = int(str(element).split(":")[0])
    except (TypeError, ValueError):
        e = -1
    if not 0 < e < group.order:
        return 1, [f"group element {element!r} is not a rotation of {group.name}; showing {group.describe(1)}"]
    return e, []


def _parse_int(value, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def shown_model(app, session: dict, task: str, arm: str, progress=None):
    """``(loaded, arm, warnings)``: the arm's model, or eqreg's while the session has trained none."""
    loaded = app.model(task, arm, session, progress)
    if loaded is None:
        return app.model(task, "eqreg", session, progress), "eqreg", [
            "you have not trained a model for this task yet (Train tab); showing **eqreg**"]
    return loaded, arm, []


def explore_controls(app, task: str, arm: str, group_name: str, layer: str | None, session: dict | None = None):
    """Choices that depend on the net and group: ``(elements, layers, layer, channels)``.

    ``layers`` are ``(label, name)`` pairs; ``layer`` is the one to select (the given one when the
    net has it); ``channels`` is the number of channels of that layer.
    """
    session = session if session is not None else {}
    loaded, _, _ = shown_model(app, session, known_task(task), arm)
    group = known_group(group_name)
    selection, _ = app.viewable(loaded, group)
    chosen = next((lay for lay in selection if lay.name == layer), None) or app.default_layer(selection)
    return element_choices(group), [(layer_label(lay), lay.name) for lay in selection], chosen.name, chosen.channels


def explore_view(app, task: str, arm: str, sample: str, upload: str | None, group_name: str, element,
                 layer: str | None, channel, session: dict | None = None, progress=None) -> View:
    """The strip and the field panel of one arm, layer, channel and element, with the status text."""
    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    element, warnings = _parse_element(group, element)
    loaded, arm, more = shown_model(app, session, task, arm, progress)
    warnings += more
    pic = picture(app.images, sample, upload, getattr(loaded.model, "channels", 1), EXPLORE_SIDE)
    warnings += pic.warnings
    notes = list(pic.notes)
    selection, note = app.viewable(loaded, group)
    notes += [note] if note else []
    chosen = next((lay for lay in selection if lay.name == layer), None)
    if chosen is None:
        chosen = app.default_layer(selection)
        if layer:
            notes.append(f"layer {layer!r} is not in this net; showing {chosen.name!r}")
    view = app.rotation_view(loaded, pic, group, element, chosen)
    channels = view.features.shape[1]
    asked = _parse_int(channel)
    c = min(max(asked, 0), channels - 1)
    if c != asked:
        notes.append(f"channel {asked} does not exist (the layer has {channels}); showing channel {c}")
    strip, panel, numbers = app.pictures.get_or_make(
        ("explore", loaded.key, pic.digest, group.name, element, chosen.name, c),
        lambda: _draw(app, view, pic.x, group, element, c))
    status = [f"**{task} · {loaded.label}** ({loaded.source}: {arm_help(arm if arm != YOURS else YOURS)}) · "
              f"image **{pic.name}** {pic.x.shape[-1]}×{pic.x.shape[-2]} · layer `{chosen.name}` "
              f"({chosen.rep.name} representation of {group.name}): "
              f"{describe_rep(view.layer, group, channels, view.index)} · g = {group.describe(element)}",
              f"Relative error of the whole layer with P_g **{numbers['with_shift']:.3f}**: "
              f"{read_error(numbers['with_shift'])} · without P_g {numbers['without']:.3f} · channel {c}: "
              f"{numbers['channel']:.3f} · 0 = equivariant, 1.41 = √2 = unrelated maps"]
    if not group.exact and element % 2:
        status.append(f"{group.describe(element)} is not a symmetry of the pixel grid: the maps are rotated by "
                      "bilinear interpolation and compared inside a disk, so even a perfect net shows an error")
    status += [f"⚠️ {w}" for w in warnings] + [f"ℹ️ {n}" for n in notes]
    return View(str(strip), str(panel), "\n\n".join(status), chosen.name, c, channels, numbers, pic.refused)


def _draw(app, view, x: torch.Tensor, group: Group, element: int, c: int):
    """Draw the strip and the field panel of channel ``c`` from a ``RotationView``; returns their paths."""
    from eqlab.metrics import relative_error

    channels = view.features.shape[1]
    size = max(1, field_size(view.layer.rep, group, channels))
    first = c // size * size
    cols = list(range(first, min(channels, first + size)))
    mask = view.mask
    diff = view.difference  # (1, C, h, w)
    gx = group.rotate(x, element)
    numbers = dict(with_shift=view.with_shift, without=view.without,
                   channel=relative_error(view.shifted[:, c:c + 1], view.rotated_input[:, c:c + 1], mask),
                   field=relative_error(view.shifted[:, cols], view.rotated_input[:, cols], mask))

    hidden = None if mask is None else ~mask.bool()  # outside the disk that C8 compares: shown grey

    def shown(t):  # (h, w) map of the comparison frame
        return t if hidden is None or t.shape != hidden.shape else t.masked_fill(hidden, float("nan"))

    compared = torch.cat([shown(view.rotated[0, k]).flatten() for k in cols]
                         + [shown(view.rotated_input[0, k]).flatten() for k in cols])
    cmap, low, high = feature_scale(compared)  # one scale for every feature map of the field
    amp = high - low if cmap == "viridis" else high

    def feat(t):
        return app.painter.colorize(limit_side(t[None], 160)[0].numpy(), cmap, low, high)  # (h, w) map

    def err(t):
        return app.painter.colorize(limit_side(t[None], 160)[0].numpy(), "magma", 0.0, amp)

    painter, turn = app.painter, group.describe(element)
    source = int(view.index[c])
    strip = painter.canvas(
        [[gray(x), gray(gx), feat(view.features[0, c]),
          feat(shown(view.shifted[0, c])), feat(shown(view.rotated_input[0, c])), err(diff[0, c])]],
        [""], ["x", "g·x", "f(x)", "g·f(x)", "f(g·x)", "difference"], tile_for(6, 8, bars=2),
        f"rotate the input, watch layer '{view.layer.name}', channel {c}\n"
        f"relative error {numbers['channel']:.3f} (whole layer {view.with_shift:.3f} with P_g, "
        f"{view.without:.3f} without)",
        [["input", turn, f"channel {c}", f"from ch {source}", f"channel {c}", "|g·f(x) − f(g·x)|"]],
        label_width=8, bars=(Bar(0, 1, cmap, low, high, "feature"), Bar(0, 1, "magma", 0.0, amp, "|diff|", 1)))
    rows = [[gray(x)] + [feat(shown(view.rotated[0, k])) for k in cols],
            [None] + [feat(shown(view.shifted[0, k])) for k in cols],
            [gray(gx)] + [feat(shown(view.rotated_input[0, k])) for k in cols],
            [err(diff[0].mean(0))] + [err(diff[0, k]) for k in cols]]
    tile = tile_for(len(cols) + 1, 128)
    arrow = "← ch " if tile >= 90 else "←"
    notes = [["input x"] + [""] * len(cols), [""] + [f"{arrow}{int(view.index[k])}" for k in cols],
             [f"g·x ({turn})"] + [""] * len(cols), ["all channels (mean)"] + [""] * len(cols)]
    label_width = 128
    panel = painter.canvas(
        rows, ["rot_g f(x)\nrotate maps", "P_g rot_g f(x)\n…and shift", "f(g·x)", "|difference|"],
        [""] + [f"channel {k}" if tile >= 90 else f"ch {k}" for k in cols], tile,
        f"layer '{view.layer.name}', field {first // size}: "
        f"{f'channels {cols[0]}…{cols[-1]}' if len(cols) > 1 else f'channel {cols[0]}'} ({view.layer.rep.name})\n"
        f"relative error of this field {numbers['field']:.3f}",
        notes, label_width, bars=(Bar(0, 3, cmap, low, high, "feature"), Bar(3, 1, "magma", 0.0, amp, "|diff|")))
    folder = app.files
    stem = f"explore-{app.counter()}"
    return save_png(strip, folder / f"{stem}-strip.png"), save_png(panel, folder / f"{stem}-panel.png"), numbers


def explore_figure(app, task: str, arm: str, sample: str, upload: str | None, group_name: str, element,
                   layer: str | None, channel, session: dict | None = None):
    """The field panel as a matplotlib figure (``eqlab.viz.rotation_panel``), on the same image, layer and field.

    Raises:
        ValueError: a layer or field ``eqlab.viz`` cannot draw.
    """
    from eqlab import viz

    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    element, _ = _parse_element(group, element)
    loaded, _, _ = shown_model(app, session, task, arm)
    pic = picture(app.images, sample, upload, getattr(loaded.model, "channels", 1), EXPLORE_SIDE)
    selection, _ = app.viewable(loaded, group)
    chosen = next((lay for lay in selection if lay.name == layer), None) or app.default_layer(selection)
    view = app.rotation_view(loaded, pic, group, element, chosen)  # cached: the channel count and the same maps
    channels = view.features.shape[1]
    size = max(1, field_size(chosen.rep, group, channels))
    c = min(max(_parse_int(channel), 0), channels - 1)
    with app.computing():
        return viz.rotation_panel(loaded.model, pic.x, group, element, chosen.name, c // size, chosen.rep)

