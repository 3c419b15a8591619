"""The Explore tab's pictures and words: does one layer rotate with its input, and how?

What is here: ``resolve`` (the one path of every Explore request: model -> picture -> group element
-> layer, with the fall-backs and notes, into a ``Resolved``), and what is shown of a ``Resolved``:
``explore_controls`` (the choices that depend on net and group: elements, layers labelled with their
representation, channels), ``explore_view`` (for one arm, image, group element, layer and channel: the
side-by-side "rotate the input" strip, x | g·x | f(x) | P_g rot_g f(x) | f(g·x) | difference, the
field panel, every channel of the field in the rows rot_g f(x), P_g rot_g f(x), f(g·x), difference,
and the status: the errors with the verdict of ``eqlab.metrics.verdict``, the field's isotypic
components, "orientation-carrying energy x %, its error y", and a warning when the net was trained
for another group), ``same_element`` (keeps g meaningful when the group changes) and
``explore_figure`` (the same layer, field and image as a matplotlib figure).

Every choice is valid for every arm: an unknown layer, element or channel falls back to one the
net has, with a note, so the next valid choice always repairs the tab. The numbers and maps are
``eqlab.metrics.rotation_view``'s (the one computation ``eqlab.viz.rotation_panel`` draws too); the
verdict words come from ``eqlab.metrics.verdict`` (never from thresholds of the app's own). This
module only draws them, from the app's caches: a channel change redraws, a layer or element change
computes one view, a view many users ask for is computed once.

What is not here: the charts and the every-arm component table (``charts.py``), the errors themselves
(``eqlab.metrics``), the Gradio layout and wiring (``tabs/explore.py``).
"""

import math
from dataclasses import dataclass, field

import torch

from eqlab.app.inputs import picture
from eqlab.app.render import Bar, feature_scale, gray, save_png, tile_for
from eqlab.app.settings import EXPLORE_SIDE, YOURS, InputError, arm_help, known_group, known_task
from eqlab.data import limit_side
from eqlab.groups import Group, field_size, get_group
from eqlab.metrics import verdict
from eqlab.metrics.components import summarize_components


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
    """``(label, element)`` for every non-identity element; those that do not act exactly say they are interpolated."""
    labels = []
    for e in group.elements()[1:]:
        text = f"{e}: {group.describe(e)}"
        if not group.is_exact(e):
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
    """``(loaded, arm, warnings)``: the arm's model, or eqreg's while the session has trained none (or the zoo
    lacks an extra arm for this task)."""
    try:
        loaded = app.model(task, arm, session, progress)
    except InputError:
        if arm not in app.arms():
            raise
        loaded = None
    if loaded is None:
        why = ("you have not trained a model for this task yet (Train tab)" if arm == YOURS else
               f"the zoo has no {arm!r} net for {task}")
        return app.model(task, "eqreg", session, progress), "eqreg", [f"{why}; showing **eqreg**"]
    return loaded, arm, []


@dataclass
class Resolved:
    """The choices of one Explore request resolved against the nets: what every view of them (panel, controls,
    figure) needs."""

    task: str
    arm: str  # the arm shown (eqreg while the session has trained none)
    loaded: object  # bank.Loaded
    pic: object  # inputs.Picture: the working image
    group: Group
    element: int  # a valid non-identity element
    selection: object  # selection.Selection: the layers of the net that can be shown
    layer: object  # selection.Layer: the chosen layer, after any fall-back
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def resolve(app, task: str, arm: str, sample: str, upload: str | None, group_name: str, element, layer: str | None,
            session: dict | None = None, progress=None) -> Resolved:
    """The model -> picture -> layer sequence of every Explore request, written once; unknown choices fall back."""
    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    element, warnings = _parse_element(group, element)
    loaded, arm, more = shown_model(app, session, task, arm, progress)
    pic = picture(app.images, sample, upload, getattr(loaded.model, "channels", 1), EXPLORE_SIDE)
    notes = list(pic.notes)
    selection, note = app.viewable(loaded, group)
    notes += [note] if note else []
    chosen = next((lay for lay in selection if lay.name == layer), None)
    if chosen is None:
        chosen = app.default_layer(selection)
        if layer:
            notes.append(f"layer {layer!r} is not in this net; showing {chosen.name!r}")
    return Resolved(task, arm, loaded, pic, group, element, selection, chosen, warnings + more + pic.warnings, notes)


def explore_controls(resolved: Resolved):
    """Choices that depend on the net and group: ``(elements, layers, layer, channels)``.

    ``layers`` are ``(label, name)`` pairs; ``layer`` is the one to select (the asked one when the
    net has it); ``channels`` is the number of channels of that layer.
    """
    layers = [(layer_label(lay), lay.name) for lay in resolved.selection]
    return element_choices(resolved.group), layers, resolved.layer.name, resolved.layer.channels


def same_element(old: Group, element, new: Group) -> int:
    """The element of ``new`` that does what ``element`` of ``old`` does (the same angle and mirror), else 1.

    C4's rot 180° is C8's element 4 and D4's element 2; C8's rot 45° has no C4 twin (rot 90° is shown).
    """
    try:
        e = int(str(element).split(":")[0])
        angle, mirror = old.angle_deg(e), old.is_reflection(e)
    except (TypeError, ValueError):
        return 1
    same = [g for g in new.elements()[1:] if new.angle_deg(g) == angle and new.is_reflection(g) == mirror]
    return same[0] if same else 1


def explore_view(app, resolved: Resolved, channel) -> View:
    """The strip, the field panel and the status of one resolved request and one channel."""
    r, group, element, chosen = resolved, resolved.group, resolved.element, resolved.layer
    notes = list(r.notes)
    view = app.rotation_view(r.loaded, r.pic, group, element, chosen)
    channels = view.features.shape[1]
    asked = _parse_int(channel)
    c = min(max(asked, 0), channels - 1)
    if c != asked:
        notes.append(f"channel {asked} does not exist (the layer has {channels}); showing channel {c}")
    strip, panel, numbers = app.pictures.get_or_make(
        ("explore", r.loaded.key, r.pic.digest, group.name, element, chosen.name, c),
        lambda: _draw(app, view, r.pic.x, group, element, c))
    rows = view.components()  # the field's isotypic components for this g (cheap: projections of the cached maps)
    summary = summarize_components(rows)
    channel_word = "a channel of a blind layer" if summary["blind"] else verdict(numbers["channel"])
    warnings = unfamiliar_group(r.loaded, group, numbers)
    foreign = f" (under {group.name}, which this net was not trained for)" if warnings else ""
    status = [f"**{r.task} · {r.loaded.label}** ({r.loaded.source}: {arm_help(r.arm)}; {trained_for(r.loaded)}) · "
              f"image **{r.pic.name}** {r.pic.x.shape[-1]}×{r.pic.x.shape[-2]} · layer `{chosen.name}` "
              f"({chosen.rep.name} representation of {group.name}): "
              f"{describe_rep(view.layer, group, channels, view.index)} · g = {group.describe(element)}",
              f"Relative error of the whole layer with P_g **{numbers['with_shift']:.3f}** (without P_g "
              f"{numbers['without']:.3f}; channel {c}: {numbers['channel']:.3f}, {channel_word}). "
              f"**Verdict{foreign}: {summary['verdict']}**",
              component_line(rows, summary)]
    status += warnings
    if not group.is_exact(element):
        status.append(f"{group.describe(element)} is not a symmetry of the pixel grid: the maps are rotated by "
                      "bilinear interpolation and compared inside a disk, so even a perfect net shows an error")
    status += [f"⚠️ {w}" for w in r.warnings] + [f"ℹ️ {n}" for n in notes]
    return View(str(strip), str(panel), "\n\n".join(status), chosen.name, c, channels, numbers, r.pic.refused)


def component_line(rows: list[dict], summary: dict) -> str:
    """The field's isotypic components in one line: each one's share of the energy and its error, then
    "orientation-carrying energy x %, its error y" (``eqlab.metrics.components``, this g)."""
    parts = " · ".join(f"{r['component']} {percent(r['share'])} (error {number(r['value'])})" for r in rows)
    if summary["blind"] is None:
        return f"Components (this g): {parts}. This representation has no orientation-carrying component."
    return (f"Components (this g): {parts} → **orientation-carrying energy {percent(summary['oriented_share'])}, "
            f"its error {number(summary['oriented_error'])}** (invariant part {number(summary['invariant_error'])})")


def percent(share: float) -> str:
    """A share of the energy in percent; round-off below zero reads 0 %."""
    return f"{max(0.0, 100 * share):.0f} %"


def number(value: float) -> str:
    """An error with two decimals; a component without energy has none ("—")."""
    return "—" if value != value else f"{value:.2f}"


def trained_for(loaded) -> str:
    """The group a net was trained (or built) for, in words."""
    if loaded.source.startswith("untrained"):
        return "untrained"
    norm = f", EQ-Reg norm '{loaded.norm}'" if loaded.norm else ""
    return (f"trained for {loaded.group}" if loaded.group else "trained without rotations") + norm


def unfamiliar_group(loaded, group: Group, numbers: dict) -> list[str]:
    """A warning when the net was trained for another group than the one measured (or for none)."""
    if loaded.group == group.name or loaded.source.startswith("untrained"):
        return []
    what = f"was trained for **{loaded.group}**" if loaded.group else "was trained without rotations"
    sign = "⚠️" if loaded.group else "ℹ️"  # plain nets: a note, not a warning (no group is theirs)
    lines = [f"{sign} This net {what}, not {group.name}: its errors under {group.name} measure a symmetry it was "
             "never asked for."]
    if loaded.group and group.order != get_group(loaded.group).order:
        lines[0] += (f" {group.name}'s regular representation reads the channels as fields of {group.order}, not "
                     f"the fields of {get_group(loaded.group).order} the net learned: P_g then moves channels that do "
                     "not belong together")
        if numbers["with_shift"] > numbers["without"]:
            lines[0] += (f", which is why the error with P_g ({numbers['with_shift']:.3f}) exceeds the error "
                         f"without ({numbers['without']:.3f})")
        lines[0] += "."
    return lines


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
             [f"g·x ({turn})"] + [""] * len(cols), ["mean of all"] + [""] * len(cols)]
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


def explore_figure(app, resolved: Resolved, channel):
    """The field panel as a matplotlib figure (``eqlab.viz.rotation_panel``), on the same image, layer and field.

    Raises:
        ValueError: a layer or field ``eqlab.viz`` cannot draw.
    """
    from eqlab import viz

    r = resolved
    view = app.rotation_view(r.loaded, r.pic, r.group, r.element, r.layer)  # cached: the channel count and the maps
    channels = view.features.shape[1]
    size = max(1, field_size(r.layer.rep, r.group, channels))
    c = min(max(_parse_int(channel), 0), channels - 1)
    with app.computing():
        return viz.rotation_panel(r.loaded.model, r.pic.x, r.group, r.element, r.layer.name, c // size, r.layer.rep)
