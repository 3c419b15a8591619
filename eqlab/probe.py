"""The probe: run an unmodified net dry, and record what its conv and linear layers produce.

``probe(model, names, mode, example)`` runs the net on random ``(2, C, 64, 64)`` and
``(2, C, 64, 128)`` inputs (or on your ``example``) with forward hooks on the named layers and a
``TorchFunctionMode`` that traces ``torch.roll`` through every torch function, then walks the
autograd graph back from the output. It returns, per layer, every call's output shape at both
sizes and the frame (accumulated roll) of its output; which layers feed the model's output
directly; and which feed an ``nn.PixelShuffle``, with its factor.

The net is left exactly as it was: batch-norm statistics restored, its training flag restored, the
global random state untouched (``fork_rng``), and it never sees the caller's tensor (RCAN scales
its input in place). A model shared by threads (the app) records only this thread's calls.

What is here: the dry runs and the graph. What is not here: what the shapes mean (``eqlab.selection``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from fractions import Fraction

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from eqlab.modes import modes, restore_modes

__all__ = ["probe", "Probe", "Call", "PROBE_SIDE", "PROBE_WIDE", "PROBE_BATCH", "UNROLLED"]

PROBE_SIDE = 64  # the square probe's side (divisible by windows of 8 and 16 and by 2**4 for U-Nets)
PROBE_WIDE = 128  # the second probe's width: what doubles is spatial (nets pad inputs to multiples of up to 64)
PROBE_BATCH = 2
UNROLLED = (Fraction(0), Fraction(0))


class _Frames(TorchFunctionMode):
    """Trace the frame of every tensor computed from the input: the ``torch.roll`` shifts it has
    accumulated on the way.

    Only tensors that depend on the input carry a frame (weights do not: a P4 layer rolls its
    kernels, not the image), and only per-image tensors vote (an attention mask built with
    ``type_as(x)``, or broadcast over the batch, does not). A tensor made from inputs whose
    frames agree has that frame; rolled and unrolled data mixed give ``"mixed"``, and so does a
    roll along one axis only.
    """

    # functions whose output values do not depend on these tensor arguments (only their dtype, device, shape)
    _LIKE = {torch.Tensor.type_as: 1, torch.Tensor.to: 1, torch.zeros_like: 0, torch.ones_like: 0,
             torch.empty_like: 0, torch.full_like: 0, torch.Tensor.new_zeros: 0, torch.Tensor.new_ones: 0,
             torch.Tensor.new_empty: 0, torch.Tensor.new_full: 0}

    def __init__(self):
        super().__init__()
        self.frames: dict[int, object] = {}
        self.keep: list = []  # the traced tensors stay alive during the probe, so their ids stay unique
        self.batch = 1

    def start(self, x: torch.Tensor) -> None:
        """Trace from the net's input ``x``, in the frame ``(0, 0)``."""
        self.frames[id(x)] = (Fraction(0), Fraction(0))
        self.keep.append(x)
        self.batch = x.shape[0]

    def frame(self, t) -> object:
        """``(dh, dw)`` as fractions of the map, ``"mixed"``, or ``None`` for a tensor independent of the input."""
        return self.frames.get(id(t))

    def _voters(self, func, args, kwargs):
        """The tensors whose frame the output inherits: per-image data, not masks built to their shape."""
        if func in self._LIKE:
            args, kwargs = args[: self._LIKE[func]], {}
        return [t for t in _tensors((args, kwargs)) if t.dim() and (t.shape[0] > 1 or self.batch == 1)]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        frames = {f for f in map(self.frame, self._voters(func, args, kwargs)) if f is not None}
        if not frames:
            return out
        frame = frames.pop() if len(frames) == 1 else "mixed"
        if func in (torch.roll, torch.Tensor.roll) and frame != "mixed":
            frame = _rolled(frame, args, kwargs)
        for t in _tensors(out):
            self.frames[id(t)] = frame
            self.keep.append(t)
        return out


def _rolled(frame, args, kwargs):
    """The frame after ``torch.roll``: shifts as fractions of the rolled axes (so that rolls at two
    resolutions compare), for a roll over two axes; any other roll of data is ``"mixed"``."""
    x = args[0]
    shifts = kwargs.get("shifts", args[1] if len(args) > 1 else 0)
    dims = kwargs.get("dims", args[2] if len(args) > 2 else None)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list, torch.Size)) else (shifts,)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != 2 or len(dims) != 2 or None in dims:
        return "mixed"
    sizes = [x.shape[d] for d in dims]
    return tuple((f + Fraction(int(s), n)) % 1 for f, s, n in zip(frame, shifts, sizes))


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


@dataclass
class Call:
    """One call of a probed module: its output's shape, autograd node and frame (accumulated roll)."""

    shape: tuple | None  # None: not a tensor
    node: object  # its autograd node
    frame: object  # (dh, dw), or "mixed"


def _first_tensor(out):
    return next(iter(_tensors(out)), None)


def _run(model: nn.Module, x: torch.Tensor, names: list[str], mode: str):
    """One probe forward: ``({name: [Call, ...]}, output tensor)``; the model is left as it was."""
    modules = dict(model.named_modules())
    calls: dict[str, list[Call]] = {}
    frames = _Frames()
    # A fresh copy (some nets scale their input in place: RCAN's x *= 255) that is part of a graph, so that
    # the autograd graph exists even when the weights are frozen (and in-place ops on it stay allowed).
    leaf = x.detach().clone().requires_grad_(x.is_floating_point())

    thread = threading.get_ident()  # a model shared by threads (the app): record this thread's pass only

    def hook(module, inputs, out, name):
        if threading.get_ident() != thread:
            return
        t = out if isinstance(out, torch.Tensor) else None
        calls.setdefault(name, []).append(Call(None if t is None else tuple(t.shape),
                                                None if t is None else t.grad_fn,
                                                UNROLLED if t is None else frames.frame(t) or UNROLLED))

    handles = [modules[name].register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)) for name in names]
    # Only buffers can change in a forward pass without an optimizer step (batch-norm statistics move in train mode).
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    saved = modes(model)
    model.train(mode == "train")
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            x = leaf * 1.0 if leaf.requires_grad else leaf
            frames.start(x)
            with frames:
                out = model(x)
    finally:
        for handle in handles:
            handle.remove()
        restore_modes(model, saved)
        with torch.no_grad():
            for k, v in model.named_buffers():
                v.copy_(buffers[k])
    first = _first_tensor(out)
    if first is None:
        raise ValueError(f"{type(model).__name__} returned {type(out).__name__}, not a tensor: cannot probe it")
    return calls, first


def _graph_from(node, stop: dict, limit: int | None = None) -> set[str]:
    """The layers (``stop``: node -> name) reached from ``node`` backwards without passing another one."""
    reached, seen, frontier, depth = set(), set(), [node], 0
    while frontier and (limit is None or depth <= limit):
        nxt = []
        for n in frontier:
            if n is None or id(n) in seen:
                continue
            seen.add(id(n))
            if id(n) in stop:
                reached.add(stop[id(n)])
                continue
            nxt.extend(f for f, _ in getattr(n, "next_functions", ()))
        frontier, depth = nxt, depth + 1
    return reached


def _pixel_shuffles(root) -> list[tuple[object, int]]:
    """Every ``PixelShuffleBackward`` node of the graph, with its factor."""
    found, seen, frontier = [], set(), [root]
    while frontier:
        n = frontier.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        if type(n).__name__.startswith("PixelShuffleBackward"):
            found.append((n, int(n._saved_upscale_factor)))
        frontier.extend(f for f, _ in getattr(n, "next_functions", ()))
    return found


def _examples(model: nn.Module, example) -> list[torch.Tensor]:
    """The probe inputs to try: ``example`` (a batch, or an int: the input channels), else random
    ``(2, C, 64, 64)`` for the likely ``C``."""
    if isinstance(example, torch.Tensor):
        return [example.detach()]
    first = next((m for m in model.modules() if isinstance(getattr(m, "in_channels", None), int)), None)
    param = next(iter(model.parameters()), torch.empty(0))
    hint = [example] if isinstance(example, int) and not isinstance(example, bool) else []
    channels = dict.fromkeys(hint + ([first.in_channels] if first is not None else []) + [3, 1])
    return [torch.rand(PROBE_BATCH, c, PROBE_SIDE, PROBE_SIDE, generator=torch.Generator().manual_seed(0),
                       dtype=param.dtype).to(param.device) for c in channels]


def _probe(model: nn.Module, example, names: list[str], mode: str):
    """``(input, calls, output)`` of the first probe input the model takes."""
    errors = []
    for x in _examples(model, example):
        try:
            calls, out = _run(model, x, names, mode)
            return x, calls, out
        except Exception as err:  # noqa: BLE001 - reported below if no input works
            if isinstance(example, torch.Tensor):
                raise ValueError(f"cannot probe {type(model).__name__} with the example of shape "
                                 f"{tuple(x.shape)}: {type(err).__name__}: {err}") from None
            errors.append(f"{tuple(x.shape)}: {type(err).__name__}: {str(err)[:160]}")
    raise ValueError(f"{type(model).__name__} takes none of the probe inputs; pass example= (an input batch it "
                     "takes). Tried " + "; ".join(errors))


# -- reading the probe ---------------------------------------------------------------------------------

@dataclass
class Probe:
    """What one probe saw."""

    x: torch.Tensor  # the square input it ran on
    calls: dict[str, list[Call]]  # per layer, every call in the square probe, in execution order
    wide: dict[str, list[Call]] | None  # the same at the 64 x 128 input (None: the net refused it)
    image_channels: int | None  # channels of the model's output (when it is a 4-d tensor)
    feeds_output: set[str] = field(default_factory=set)  # layers whose output reaches the model's output directly
    factors: dict[str, int] = field(default_factory=dict)  # layers whose output reaches a PixelShuffle: its factor
    how: str = ""  # in words, for the report


def probe(model: nn.Module, names: list[str], mode: str = "train", example=None) -> Probe:
    """Run ``model`` dry and record what the layers ``names`` produce (see the module docstring).

    Args:
        model: any ``nn.Module``.
        names: the modules to hook.
        mode: ``"train"`` or ``"eval"``: the mode the net runs in during the probe.
        example: an input batch, or the number of input channels; default random inputs.

    Raises:
        ValueError: the net takes none of the probe inputs (or not the example), or returns no tensor.
    """
    x, calls, out = _probe(model, example, names, mode)
    how = f"probed in {mode} mode at {tuple(x.shape[-2:])}"
    wide = None
    if not isinstance(example, torch.Tensor):
        try:
            wide, _ = _run(model, torch.cat([x, x.flip(-1)], dim=-1)[..., :PROBE_WIDE], names, mode)
            how = f"two probes in {mode} mode, 64x64 and 64x128"
        except Exception:  # noqa: BLE001 - a net that only takes square inputs: read the layouts from one shape
            how += " (one probe: the net refused a 64x128 input)"
    stop = {id(c.node): n for n, cs in calls.items() for c in cs if c.node is not None}
    feeds_output = _graph_from(out.grad_fn, stop) if out.grad_fn is not None else set()
    factors = {}
    for node, factor in _pixel_shuffles(out.grad_fn):
        for name in _graph_from(node, stop, limit=4):
            factors[name] = factor
    return Probe(x, calls, wide, out.shape[1] if out.dim() == 4 else None, feeds_output, factors, how)
