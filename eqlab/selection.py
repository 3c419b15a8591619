"""Which layers EQ-Reg reads, how, and why: selection by probing a forward pass.

``select(model, group)`` decides, for every ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear``
of an unmodified model, whether the penalty can read its output as a feature map, with which
*layout* (``eqlab.layouts``) and *representation* (``eqlab.groups``), or why not. It does not
guess from the modules' names or their registration order: it runs the net (dry, without changing
it) and looks.

The probe: two forward passes of random inputs, ``(2, C, 64, 64)`` and ``(2, C, 64, 128)``, in
training mode (the mode the penalty acts in; ``mode="eval"`` for the metrics), record every call
of every candidate layer: its output shape in both, the order of execution, the frame of its
output (the accumulated ``torch.roll`` shifts, traced through every torch function) and its node
in the autograd graph. From that:

- *layout*: a dimension that grows with the input's width is spatial, a leading dimension that
  grows is a window count: ``(B, C, H, W)`` convolutions -> ``Map``, ``(B, H, W, C)`` ->
  ``ChannelsLast``, ``(B, H*W, C)`` -> ``Tokens``, ``(B*nW, s*s, C)`` (or ``(B, nW, s*s, C)``) ->
  ``Windows(s)``, in a frame rolled by ``-k`` -> ``Windows(s, shift=k)``. What does not grow with
  the image (pooled vectors, position tables, learned tokens), maps that are not on the input's
  grid (padded or cropped), and frames that mix rolls are skipped, each with its reason;
- *representation*: a layer whose output reaches ``nn.PixelShuffle`` (through elementwise ops) gets
  ``PixelShuffle(r, base)``; a layer that produces the model's output (found by walking the
  autograd graph back from the output, not by registration order) is image-valued: ``Trivial``;
  any other layer ``Regular`` when its channels divide by ``|G|``;
- layers that did not run in the probe's mode are not chosen;
- layers whose name matches a ``skip`` pattern (``fnmatch``, e.g. ``"*.attn.qkv"``) are left plain,
  with the pattern in the report: the reference code's SwinIR regularizes neither ``qkv`` nor the
  last conv (``layers="hidden", skip="*.attn.qkv"``).

A net that declares its layers (``model.equivariance_reps(group)``, as every eqlab net does) keeps
its own choice of layers and representations; the probe only adds the layouts. When a net cannot
take the probe's input, pass ``example=`` (an input of your own); with one input (not two) the
layouts are read from one shape, which the report says.

Convention: windows are ordered ``(b, nh, nw)`` and tokens row-major (Swin's ``window_partition``
and ``flatten(2).transpose(1, 2)``). Dilated "grid" windows of the same shape cannot be told apart
from block windows by shapes; declare them (``layouts={name: Function(...)}``) or skip them
(``layouts={name: None}``).

What is not here: the penalty (``eqlab.regularizer``), the layouts themselves (``eqlab.layouts``).
"""

from __future__ import annotations

import difflib
import fnmatch
import threading
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from eqlab.groups import Group, PixelShuffle, Regular, Representation, Trivial, get_group
from eqlab.layouts import ChannelsLast, Layout, Map, ProbeShapes, Tokens, Windows
from eqlab.probe import PROBE_SIDE, PROBE_WIDE, probe

__all__ = ["select", "cached_select", "Selection", "Layer", "Row", "HOOKABLE"]

HOOKABLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class Layer:
    """A regularized layer: its name in ``model.named_modules()``, representation, layout and role."""

    name: str
    rep: Representation
    layout: Layout = Map()
    role: str = "hidden"  # "hidden", "output" (produces the model's output) or "pixel_shuffle" (feeds one)
    channels: int | None = None  # channels of the map it holds (None for a Function layout)


@dataclass(frozen=True)
class Row:
    """One line of the selection report."""

    name: str
    module: str  # the module's class
    shape: tuple | None  # its output shape in the (square) probe; None if it did not run
    chosen: bool
    layout: str
    rep: str
    reason: str


@dataclass
class Selection:
    """The chosen layers, in execution order, and the report on every candidate."""

    layers: list[Layer]
    rows: list[Row]
    how: str  # how the layouts were found, e.g. "two probes, 64x64 and 64x128"
    calls: dict[str, int] = field(default_factory=dict)  # probe calls per chosen layer

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def names(self) -> list[str]:
        """The chosen layers' module names, in the order of ``layers``."""
        return [layer.name for layer in self.layers]

    def table(self) -> str:
        """The report as a fixed-width text table (what ``EQReg.report()`` prints)."""
        head = ("layer", "module", "probe output", "chosen", "layout", "representation", "why")
        cells = [head] + [(r.name, r.module, "-" if r.shape is None else str(tuple(r.shape)), "yes" if r.chosen else
                           "no", r.layout, r.rep, r.reason) for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(head) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1] for row in cells]
        return f"{len(self.layers)} of {len(self.rows)} layers regularized ({self.how})\n" + "\n".join(lines)


def _channels(module: nn.Module) -> int | None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return module.out_channels
    if isinstance(module, nn.Linear):
        return module.out_features
    for attr in ("out_channels", "out_features"):
        if isinstance(getattr(module, attr, None), int):
            return getattr(module, attr)
    return None


# -- the probe ----------------------------------------------------------------------------------------

READ_ORDER = (Map, ChannelsLast, Tokens, Windows)  # the first that reads a layer's shapes is its layout


def _layout(module: nn.Module, square: tuple, wide: tuple | None, images: int, frame) -> tuple[Layout | None, str]:
    """The layout of one output (``square``: at 64 x 64; ``wide``: at 64 x 128 or None), or why there is none."""
    channels = _channels(module)
    channels_first = not isinstance(module, nn.Linear) and len(square) == 4 and square[1] == channels
    if frame == "mixed":
        return None, "its output mixes differently rolled frames"
    if len(square) < 3:
        return None, f"a {len(square)}-d output (a vector per image) has no spatial layout"
    if wide is not None and tuple(wide) == tuple(square):
        return None, "its output does not grow with the image (a pooled vector, table or learned tokens)"
    if not channels_first and square[-1] != channels:
        return None, f"output {square} does not end with the {channels} features"
    shapes = ProbeShapes(tuple(square), None if wide is None else tuple(wide), images, PROBE_SIDE, PROBE_WIDE,
                         channels_first)
    for kind in READ_ORDER:
        try:
            layout = kind.read(shapes)
        except ValueError as err:  # of this kind, but not on the input's grid
            return None, str(err)
        if layout is not None:
            break
    else:
        what = "neither a map nor windows" if channels_first else "not a map, tokens or windows"
        return None, f"output {square} is {what} of this batch"
    if any(frame):
        side = layout.map_shape(layout.per_image(torch.empty(square, device="meta"), images))[1]
        shift = (-frame[0] * side) % side
        if not isinstance(layout, Windows) or frame[0] != frame[1] or shift != int(shift) \
                or not 0 < shift < layout.size:
            return None, f"it reads a frame rolled by {tuple(str(f) for f in frame)} of the map (torch.roll before it)"
        layout = Windows(layout.size, shift=int(shift), channels_first=layout.channels_first)
    return layout, ""


def _default_rep(group: Group, channels: int | None, role: str, factor: int):
    """The representation of a layer from its role: ``(rep, reason)``, or ``(None, why not)``."""
    if factor > 1:
        if not group.exact:
            return None, f"feeds PixelShuffle({factor}), which has no representation of {group.name}"
        if role == "output":
            return PixelShuffle(factor, Trivial()), f"feeds PixelShuffle({factor}) of the output image"
        base = channels // factor**2
        if Regular().fits(group, base):
            return PixelShuffle(factor, Regular()), f"feeds PixelShuffle({factor}) of a feature map"
        return None, f"feeds PixelShuffle({factor}) of {base} channels, not divisible by |{group.name}| = {group.order}"
    if role == "output":
        return Trivial(), "produces the model's output: image-valued"
    if channels is not None and Regular().fits(group, channels):
        return Regular(), ""
    return None, f"{channels} channels are not divisible by |{group.name}| = {group.order}"


def _check_names(names, modules, what: str) -> None:
    unknown = [n for n in names if n not in modules]
    if unknown:
        hints = {n: difflib.get_close_matches(n, [m for m in modules if m], n=3) for n in unknown}
        raise ValueError(f"unknown layer name(s) in {what}: " + "; ".join(
            f"{n!r}" + (f" (close: {', '.join(map(repr, close))})" if close else "") for n, close in hints.items()))


def _skip_patterns(skip) -> tuple[str, ...]:
    """``skip`` as a tuple of patterns: ``None``, one pattern, comma-separated patterns or a sequence of them."""
    if skip is None:
        return ()
    if isinstance(skip, str):
        return tuple(p.strip() for p in skip.split(",") if p.strip())
    if isinstance(skip, (list, tuple)) and all(isinstance(p, str) for p in skip):
        return tuple(skip)
    raise TypeError(f"skip must be None, a pattern string or a sequence of them, got {type(skip).__name__}")


def select(model: nn.Module, group: Group | str = "C4", layers="auto", reps=None, layouts=None, example=None,
           mode: str = "train", skip=None) -> Selection:
    """Choose the layers to regularize (or measure), their layouts and representations.

    Args:
        model: any ``nn.Module``; it is run (dry) but not changed.
        group: the symmetry group.
        layers: ``"auto"`` (what the probe can read; the model's ``equivariance_reps`` if it has
            them), ``"hidden"`` (``"auto"`` without the layers that produce the output: the
            reference code's choice), a list of module names, or module type(s).
        reps: ``None``, one ``Representation`` for every chosen layer, or ``{name: rep}``.
        layouts: ``{name: Layout}`` to declare what the probe cannot derive, ``{name: None}`` to skip.
        example: an input batch for the probe, or the number of input channels; default random
            ``(2, C, 64, 64)`` and ``(2, C, 64, 128)``.
        mode: ``"train"`` (the layers that run while training) or ``"eval"`` (for metrics).
        skip: module-name patterns (``fnmatch``; one string may hold several, comma-separated) whose
            layers stay plain, e.g. ``"*.attn.qkv"``; each must match at least one candidate.

    Returns:
        the ``Selection``: the chosen layers in execution order, and a report row for every candidate.

    Raises:
        ValueError: an unknown name (close names listed), a net that cannot be probed, an explicitly
            named layer that cannot be read or whose channels do not fit, a ``skip`` pattern that
            matches no candidate, or no layer at all.
        TypeError: a model or argument of the wrong type.
    """
    group = get_group(group)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if reps is not None and not isinstance(reps, (dict, Representation)):
        raise TypeError(f"reps must be None, a Representation or a dict, got {type(reps).__name__}")
    if layouts is not None and not isinstance(layouts, dict):
        raise TypeError(f"layouts must be None or a dict {{name: Layout or None}}, got {type(layouts).__name__}")
    modules = dict(model.named_modules())
    _check_names(reps if isinstance(reps, dict) else {}, modules, "reps")
    _check_names(layouts or {}, modules, "layouts")
    wanted, declared = _wanted(model, group, layers, modules)
    patterns = _skip_patterns(skip)
    unused = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in wanted)]
    if unused:
        raise ValueError(f"skip pattern(s) {unused} match no candidate layer of {type(model).__name__}; "
                         f"candidates: {wanted[:8]}{' ...' if len(wanted) > 8 else ''}")
    seen = probe(model, wanted, mode, example)
    ask = _Asked(group, layers, reps, layouts or {}, declared, mode, seen)
    order = {n: i for i, n in enumerate(seen.calls)}
    rows, chosen = [], []
    for name in sorted(wanted, key=lambda n: order.get(n, len(order))):
        matched = next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)
        if matched is not None:
            calls = seen.calls.get(name)
            rows.append(Row(name, type(modules[name]).__name__, calls[0].shape if calls else None, False, "-", "-",
                            f"left plain: matches skip {matched!r}"))
            continue
        layer, row = _decide(ask, name, modules[name])
        rows.append(row)
        chosen += [layer] if layer is not None else []
    if not chosen:
        raise ValueError(f"no layer of {type(model).__name__} can be regularized for {group.name} with "
                         f"layers={layers!r}:\n" + Selection([], rows, seen.how).table())
    return Selection(chosen, rows, seen.how, {layer.name: len(seen.calls[layer.name]) for layer in chosen})


def _wanted(model: nn.Module, group: Group, layers, modules: dict) -> tuple[list[str], dict | None]:
    """The candidate layers of ``select``'s ``layers`` argument, and the model's declared representations."""
    declared = None
    if layers in ("auto", "hidden") and hasattr(model, "equivariance_reps"):
        try:
            declared = dict(model.equivariance_reps(group))
        except NotImplementedError:  # a RestorationNet that leaves the choice to the probe (eqlab.models.thirdparty)
            declared = None
    if isinstance(layers, str) and layers not in ("auto", "hidden"):
        raise TypeError(f"layers must be 'auto', 'hidden', a list of names or module type(s), got {layers!r}")
    if isinstance(layers, (list, tuple)) and all(isinstance(n, str) for n in layers):
        _check_names(layers, modules, "layers")
        return list(layers), declared
    if isinstance(layers, type) or (isinstance(layers, tuple) and layers and all(isinstance(t, type) for t in layers)):
        return [n for n, m in modules.items() if isinstance(m, layers)], declared
    if layers in ("auto", "hidden"):
        wanted = list(declared) if declared is not None else [n for n, m in modules.items() if isinstance(m, HOOKABLE)]
        return wanted, declared
    raise TypeError(f"layers must be 'auto', 'hidden', a list of names or module type(s), got {layers!r}")


@dataclass
class _Asked:
    """What ``select`` was asked and what the probe saw: everything ``_decide`` reads."""

    group: Group
    layers: object  # select's layers argument
    reps: object  # None, one Representation, or {name: rep}
    layouts: dict  # {name: Layout or None}
    declared: dict | None  # the model's equivariance_reps, when it has them
    mode: str
    seen: object  # probe.Probe

    @property
    def explicit(self) -> bool:
        return not isinstance(self.layers, str)


def _decide(ask: _Asked, name: str, module: nn.Module) -> tuple[Layer | None, Row]:
    """One candidate layer: ``(Layer, its row)`` when it is chosen, ``(None, the row saying why not)`` otherwise.

    Raises:
        ValueError: an explicitly named layer that cannot be read, or whose channels do not fit.
    """
    seen, group = ask.seen, ask.group
    kind, channels = type(module).__name__, _channels(module)
    mine = seen.calls.get(name)
    shape = mine[0].shape if mine else None

    def skip(reason: str) -> tuple[None, Row]:
        if ask.explicit:
            raise ValueError(f"layer {name!r} ({kind}) cannot be regularized: {reason}")
        return None, Row(name, kind, shape, False, "-", "-", reason)

    if not mine:
        return skip(f"did not run in a {ask.mode}-mode forward")
    if shape is None:
        return skip("its output is not a tensor")
    if name in ask.layouts:
        layout, why = ask.layouts[name], "declared"
        if layout is None:
            return None, Row(name, kind, shape, False, "-", "-", "skipped by layouts={name: None}")
    else:
        wide = seen.wide[name][0].shape if seen.wide and seen.wide.get(name) else None
        layout, why = _layout(module, shape, wide, seen.x.shape[0], mine[0].frame)
        if layout is None:
            return skip(why)
    factor = seen.factors.get(name, 1)
    image_valued = seen.image_channels is not None and channels == seen.image_channels * factor**2
    role = "output" if name in seen.feeds_output and image_valued else "pixel_shuffle" if factor > 1 else "hidden"
    if ask.layers == "hidden" and role == "output":
        return None, Row(name, kind, shape, False, repr(layout), "-", "produces the output (layers='hidden')")
    if isinstance(ask.reps, dict) and name in ask.reps:
        rep, reason = ask.reps[name], "representation given"
    elif isinstance(ask.reps, Representation):
        rep, reason = ask.reps, "representation given"
    elif ask.declared is not None and name in ask.declared:
        rep, reason = ask.declared[name], "declared by the model (equivariance_reps)"
    else:
        rep, reason = _default_rep(group, channels, role, factor)
        if rep is None:
            return skip(reason)
    c = None
    if layout.permutes:
        try:
            c = layout.map_shape(layout.per_image(torch.empty(shape, device="meta"), seen.x.shape[0]))[0]
            rep.check(group, c)
        except ValueError as err:
            raise ValueError(f"layer {name!r} ({kind}, {channels} channels): {err}") from None
    reason = ", ".join(r for r in (reason, why if why != "declared" else "layout declared",
                                   f"runs {len(mine)} times per forward" if len(mine) > 1 else "") if r)
    return Layer(name, rep, layout, role, c), Row(name, kind, shape, True, repr(layout), rep.name, reason or "fits")


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_GUARD = threading.Lock()


def cached_select(model: nn.Module, group: Group | str = "C4", layers="auto", reps=None, layouts=None,
                  example=None, mode: str = "eval", skip=None) -> Selection:
    """``select``, remembered per model and arguments (a net's layers do not change as it trains).

    The metrics, the figures and the app ask the same question many times; the probe runs once.
    ``example`` (when a tensor) only matters the first time.
    """
    group = get_group(group)
    key = (group.name, repr(layers), repr(sorted(reps.items())) if isinstance(reps, dict) else repr(reps),
           repr(sorted((layouts or {}).items())), mode, example if isinstance(example, int) else None,
           _skip_patterns(skip))
    with _CACHE_GUARD:
        hit = _CACHE.setdefault(model, {}).get(key)
    if hit is None:
        hit = select(model, group, layers, reps, layouts, example, mode, skip)
        with _CACHE_GUARD:
            _CACHE[model][key] = hit
    return hit
