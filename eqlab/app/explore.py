"""The Explore tab: does a layer rotate with its input?

What is here: ``rotation_panel_image`` (one layer, field and group element as a numpy picture:
rot_g f(x), P_g rot_g f(x), f(g x) and their difference), ``explore_panel`` (that panel for an arm
and the user's image), ``explore_charts`` (per-layer error and error against angle of every arm,
on the centre ``PROBE_SIDE`` crop, cached per model, image and group), ``explore_update`` (both),
``explore_controls`` (the choices that depend on net and group) and ``explore_figure`` (the
matplotlib version of the panel).

The numbers and maps come from ``eqlab.metrics.rotation_view`` (the same computation as
``eqlab.viz.rotation_panel``); this module only draws them as a numpy picture.

What is not here: the errors themselves (``eqlab.metrics``), the Gradio wiring (``ui.py``,
``handlers.py``).
"""

import contextlib
import hashlib
import math
import threading

import numpy as np
import torch
import torch.nn as nn

from eqlab import metrics
from eqlab.app.inputs import centre_crop, image_or_sample
from eqlab.app.models import Loaded, ModelBank, arm_model, model_lock
from eqlab.app.render import canvas, colorize, gray
from eqlab.app.settings import ANGLES, ARM_CHOICES, ARM_HELP, PROBE_SIDE, YOURS, InputError, known_group, known_task
from eqlab.data import limit_side
from eqlab.groups import field_size, get_group


def _layers(model: nn.Module, group) -> tuple[dict[str, object], list[str]]:
    """``{layer: representation}`` the net can show for ``group``, and notes (``eqlab.metrics.viewable_layers``)."""
    selection, note = metrics.viewable_layers(model, group)
    return {layer.name: layer.rep for layer in selection}, [note] if note else []


def _field_size(rep, group, channels: int) -> int:
    return max(1, min(field_size(rep, group, channels), 8))


def element_choices(group_name: str) -> list[tuple[str, int]]:
    group = get_group(group_name)
    labels = []
    for e in group.elements()[1:]:
        text = f"{e}: {group.describe(e)}"
        if not group.exact and e % 2:
            text += " (interpolated)"
        labels.append((text, e))
    return labels


def _parse_element(group, element) -> tuple[int, list[str]]:
    try:
        e = int(str(element).split(":")[0])
    except (TypeError, ValueError):
        e = -1
    if not 0 < e < group.order:
        return 1, [f"group element {element!r} is not a rotation of {group.name}; using {group.describe(1)}"]
    return e, []


def _shown_model(bank: ModelBank, session: dict, task: str, arm: str) -> Loaded:
    """The arm's model, or eqreg's while the session has no model of its own ("yours")."""
    return arm_model(bank, session, task, arm, None) or bank.get(task, "eqreg")


def rotation_panel_image(model: nn.Module, x: torch.Tensor, group, element: int, layer: str, rep,
                         field: int, tile: int = 120) -> tuple[np.ndarray, dict]:
    """The rotation panel as one numpy image, and the numbers in it.

    Rows: :math:`\\mathrm{rot}_g f(x)`, :math:`P_g \\mathrm{rot}_g f(x)` (each tile says which channel
    it came from), :math:`f(g x)` and :math:`|P_g \\mathrm{rot}_g f(x) - f(g x)|`; one column per channel
    of the chosen field. The left column holds ``x``, ``g·x`` and the error averaged over all channels.
    """
    gx = group.rotate(x, element)
    with model_lock(model):
        view = metrics.rotation_view(model, x, group, element, layer, rep)
    spatial, shifted, z, index = view.rotated, view.shifted, view.rotated_input, view.index
    channels = spatial.shape[1]
    mask = view.mask
    keep = mask.float() if mask is not None else torch.ones(z.shape[-2:])
    size = _field_size(rep, group, channels)
    fields = math.ceil(channels / size)
    field = min(max(int(field), 0), fields - 1)
    cols = list(range(field * size, min(channels, (field + 1) * size)))
    diff = (shifted - z).abs() * keep
    amp = float(torch.cat([spatial[0, cols].flatten(), z[0, cols].flatten()]).abs().max()) or 1.0
    small = lambda t: limit_side(t, tile)  # noqa: E731  (colour only what is shown: faster)
    maps = [small(spatial[:, cols])[0], small(shifted[:, cols])[0], small(z[:, cols])[0],
            small(torch.cat([diff.mean(1, keepdim=True), diff[:, cols]], 1))[0]]
    feat = lambda t: colorize(t.numpy(), "RdBu_r", -amp, amp)  # noqa: E731
    err = lambda t: colorize(t.numpy(), "magma", 0.0, amp)  # noqa: E731
    rows = [
        [gray(x)] + [feat(m) for m in maps[0]],
        [None] + [feat(m) for m in maps[1]],
        [gray(gx)] + [feat(m) for m in maps[2]],
        [err(m) for m in maps[3]],
    ]
    numbers = dict(
        with_shift=view.with_shift, without=view.without,
        field=metrics.relative_error(shifted[:, cols], z[:, cols], mask), fields=fields, field_shown=field,
        channels=channels, field_size=size,
    )
    notes = [["input x"] + [""] * len(cols), [""] + [f"← channel {int(index[c])}" for c in cols],
             [f"g·x = {group.describe(element)}"] + [""] * len(cols), ["mean of all channels"] + [""] * len(cols)]
    labels = ["f(x), rotated by g\n(rot_g f(x))", "…and channels\nshifted (P_g rot_g f(x))",
              "features of the\nrotated input (f(g·x))", "difference\n|P_g rot_g f(x) − f(g·x)|"]
    title = (f"layer '{layer}' ({rep.name} representation) · field {field} of 0…{fields - 1} · "
             f"g = {group.describe(element)} of {group.name}\n"
             f"relative error of the whole layer: with the channel shift {numbers['with_shift']:.3f}, "
             f"without {numbers['without']:.3f}   (0 = equivariant, 1.41 = unrelated)")
    image = canvas(rows, labels, [""] + [f"channel {c}" for c in cols], tile, title, notes)
    return image, numbers


_SHARED_ERRORS: dict = {}  # (shared model id, image digest, group) -> errors; read-only results, same for every user
_SHARED_GUARD = threading.Lock()


def _probe(x: torch.Tensor) -> torch.Tensor:
    """The centre crop of side ``PROBE_SIDE`` (or less, a multiple of 4) the charts are measured on."""
    return centre_crop(x, min(PROBE_SIDE, x.shape[-1]) // 4 * 4)


def _arm_errors(model: nn.Module, x: torch.Tensor, group, reps: dict) -> tuple[list[dict], list[dict]]:
    """Per-layer errors (kind "shift", every non-identity element) and error-vs-angle rows on the probe crop."""
    probe = _probe(x)
    with model_lock(model):
        rows = metrics.equivariance_error(model, probe, group, layers=list(reps), reps=reps, kinds=("shift",))
        angles = metrics.error_vs_angle(model, probe, ANGLES)
    return rows, angles


def explore_panel(bank: ModelBank, task: str, arm: str, sample: str, upload: str | None, group_name: str,
                  element, layer: str | None, field, session: dict | None = None, progress=None):
    """The rotation panel of one arm, layer, field and element (the fast part of the Explore tab).

    Returns:
        ``(panel, status, session)``: an ``(H, W, 3)`` uint8 image, a Markdown status, the session dict.
    """
    session = session if session is not None else {}
    warnings: list[str] = []
    task = known_task(task)
    group = known_group(group_name)
    element, more = _parse_element(group, element)
    warnings += more
    chosen = arm_model(bank, session, task, arm if arm in ARM_CHOICES else "eqreg", progress)
    if chosen is None:
        warnings.append("you have not trained a model for this task yet (Train tab); showing **eqreg**")
        arm = "eqreg"
        chosen = bank.get(task, arm, progress)
    model = chosen.model
    x, notes, name, upload_warning = image_or_sample(sample, upload, getattr(model, "channels", 1), session)
    warnings += upload_warning
    reps, rep_notes = _layers(model, group)
    notes += rep_notes
    if layer not in reps:
        if layer:
            notes.append(f"layer {layer!r} is not in this net; showing {next(iter(reps))!r}")
        layer = next(iter(reps))
    try:
        field = int(float(field))
    except (TypeError, ValueError):
        field = 0
    panel, numbers = rotation_panel_image(model, x, group, element, layer, reps[layer], field)
    if numbers["field_shown"] != field:
        notes.append(f"field {field} does not exist (the layer has {numbers['fields']}); showing field "
                     f"{numbers['field_shown']}")
    status = [f"**{task} · {chosen.label}** ({chosen.source}; {ARM_HELP.get(arm, '')}) · image **{name}** "
              f"{x.shape[-1]}×{x.shape[-2]} · layer `{layer}`: {numbers['channels']} channels in "
              f"{numbers['fields']} fields of {numbers['field_size']} · g = {group.describe(element)} of {group.name}"
              f" · error with P_g "
              f"**{numbers['with_shift']:.3f}**, without {numbers['without']:.3f}"]
    if not group.exact and element % 2:
        status.append(f"{group.describe(element)} is not a symmetry of the pixel grid: the maps are rotated by "
                      "bilinear interpolation and compared inside a disk, so even a perfect net shows an error")
    status += [f"⚠️ {w}" for w in warnings] + [f"ℹ️ {n}" for n in notes]
    return panel, "\n\n".join(status), session


def explore_charts(bank: ModelBank, task: str, sample: str, upload: str | None, group_name: str,
                   session: dict | None = None, progress=None):
    """Per-layer errors and error against angle of every arm, on the centre ``PROBE_SIDE`` crop.

    Cached per (model, image, group) in the session: changing the layer, field or element costs nothing.

    Returns:
        ``(layer_rows, angle_rows, session)``: tidy lists of dicts for the two charts.
    """
    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    cache = session.setdefault("errors", {})
    layer_rows, angle_rows = [], []
    for a in ARM_CHOICES:
        loaded = arm_model(bank, session, task, a, progress)
        if loaded is None:
            continue
        try:
            x, *_ = image_or_sample(sample, upload, getattr(loaded.model, "channels", 1), session)
        except InputError:
            continue
        key = (id(loaded.model), hashlib.sha1(x.numpy().tobytes()).hexdigest()[:16], group.name)
        # The shared models' errors are the same for everybody: cache them for all sessions; a session's own
        # model only in its session (its id may be reused once it is gone).
        store, guard = (cache, contextlib.nullcontext()) if a == YOURS else (_SHARED_ERRORS, _SHARED_GUARD)
        with guard:
            hit = store.get(key)
        if hit is None:
            arm_reps, _ = _layers(loaded.model, group)
            hit = _arm_errors(loaded.model, x, group, arm_reps)
            with guard:
                if len(store) >= 64:
                    store.pop(next(iter(store)))
                store[key] = hit
        rows, angles = hit
        order = list(dict.fromkeys(r["layer"] for r in rows))
        for i, lname in enumerate(order):
            values = [r["value"] for r in rows if r["layer"] == lname]
            layer_rows.append(dict(layer=f"{i + 1:02d} {lname}", position=i + 1, error=float(np.mean(values)),
                                   worst=float(np.max(values)), arm=a))
        angle_rows += [dict(angle=r["angle_deg"], error=r["value"], series=a) for r in angles]
        if a == ARM_CHOICES[0]:
            angle_rows += [dict(angle=r["angle_deg"], error=r["floor"], series="interpolation floor") for r in angles]
    return layer_rows, angle_rows, session


def explore_update(bank: ModelBank, task: str, arm: str, sample: str, upload: str | None, group_name: str,
                   element, layer: str | None, field, session: dict | None = None, progress=None):
    """Everything the Explore tab shows: ``(panel, layer_rows, angle_rows, status, session)``."""
    panel, status, session = explore_panel(bank, task, arm, sample, upload, group_name, element, layer, field,
                                           session, progress)
    layer_rows, angle_rows, session = explore_charts(bank, task, sample, upload, group_name, session, progress)
    return panel, layer_rows, angle_rows, status, session


def explore_controls(bank: ModelBank, task: str, arm: str, group_name: str, layer: str | None, field,
                     session: dict | None = None):
    """Choices that depend on the net and group: ``(elements, layers, layer, fields)``."""
    session = session if session is not None else {}
    task = known_task(task)
    group = known_group(group_name)
    chosen = _shown_model(bank, session, task, arm)
    reps, _ = _layers(chosen.model, group)
    layer = layer if layer in reps else list(reps)[min(1, len(reps) - 1)]
    selection, _ = metrics.viewable_layers(chosen.model, group)
    channels = next(lay.channels for lay in selection if lay.name == layer)
    fields = math.ceil(channels / _field_size(reps[layer], group, channels))
    return element_choices(group.name), list(reps), layer, fields



def explore_figure(bank: ModelBank, task: str, arm: str, sample: str, upload: str | None, group_name: str,
                   element, layer: str | None, field, session: dict | None = None):
    """The rotation panel as a matplotlib figure (``eqlab.viz.rotation_panel``, on a 128 px image; seconds).

    Raises:
        ValueError: a field or layer ``eqlab.viz`` cannot draw.
    """
    from eqlab import viz

    session = session or {}
    chosen = _shown_model(bank, session, task, arm)
    x, _, _, _ = image_or_sample(sample, upload, getattr(chosen.model, "channels", 1), session)
    group = known_group(group_name)
    element, _ = _parse_element(group, element)
    reps, _ = _layers(chosen.model, group)
    layer = layer if layer in reps else next(iter(reps))
    with model_lock(chosen.model):
        return viz.rotation_panel(chosen.model, limit_side(x, 128), group, element, layer, int(float(field or 0)),
                                  reps[layer])
