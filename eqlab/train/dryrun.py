"""A training run set up but not trained: what ``eqlab train --dry-run`` prints.

``dry_run(config)`` builds the run's ``Trainer`` on the CPU as a real run would (so every check
that raises before the first step raises here too: the config, the net, EQ-Reg's layers, the
folders and their pairing, the checkpoint to resume) and reports, without taking a step:

- the resolved configuration, as a recipe (TOML) that rebuilds it;
- the layers EQ-Reg regularizes (``reg.report()``), or that the arm has no penalty;
- the data found: the training images (count, sizes; the pairs of a paired folder) and the test images;
- a memory estimate per rank: weights, gradients, Adam's two moments and the moving average (4
  bytes per parameter each), plus the activations that the forward pass saves for the backward,
  counted on a copy of the net on PyTorch's ``meta`` device (shapes only: nothing is computed) at
  the rank's batch (``2B`` for the paired arms) and input patch, in float32. EQ-Reg's terms save
  about one output of every regularized layer more. Not counted: the backward's temporaries, the
  allocator's cache, DDP's gradient buckets (one more copy of the gradients under ``torchrun``);
  bf16 autocast stores most activations in half.

What is not here: training (``eqlab.train.loop``), the command line (``eqlab.cli``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from eqlab.data.pipeline import PairedFiles
from eqlab.train.config import TrainConfig
from eqlab.train.distributed import World

__all__ = ["RunPlan", "dry_run", "activation_bytes", "as_toml"]

_GIB = 2.0**30


@dataclass
class RunPlan:
    """What ``dry_run`` found; ``text()`` is what ``eqlab train --dry-run`` prints."""

    config: TrainConfig
    layers: str  # the EQ-Reg report, or why there is none
    data: dict  # training and test images: counts, sizes, pairing
    memory: dict  # bytes per rank: weights, gradients, adam, ema, activations, eqreg_terms, total; and the batch

    def text(self) -> str:
        """The plan as ``eqlab train --dry-run`` prints it: the configuration as TOML, the layers, the data, the
        memory estimate per rank in GiB."""
        d, m = self.data, self.memory
        gib = {k: v / _GIB for k, v in m.items() if isinstance(v, (int, float)) and k not in ("images", "side")}
        lines = ["# the resolved configuration (a recipe that rebuilds it)", as_toml(self.config), "",
                 "# layers", self.layers, "", "# data", f"training: {d['train']}", f"test: {d['test']}", "",
                 "# memory per rank (estimate)",
                 f"parameters {m['parameters']:,}: weights {gib['weights']:.2f} GiB, gradients {gib['gradients']:.2f}, "
                 f"Adam {gib['adam']:.2f}, moving average {gib['ema']:.2f}",
                 f"activations saved for the backward: {gib['activations']:.2f} GiB at {m['images']} images of "
                 f"{m['side']} x {m['side']} px in float32 (bf16 autocast stores most in half)",
                 f"EQ-Reg's saved terms: {gib['eqreg_terms']:.2f} GiB",
                 f"total: {gib['total']:.2f} GiB (not counted: the backward's temporaries, the allocator's cache, "
                 "DDP's gradient buckets)"]
        return "\n".join(lines)


def as_toml(config: TrainConfig) -> str:
    """The config as recipe tables (``eqlab.recipes``): every field, ``"none"`` for ``None``."""
    lines = []
    for group, values in config.to_dict().items():
        lines.append(f"[{group}]")
        for name, value in values.items():
            if value is None:
                text = '"none"'
            elif isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, str):
                text = f'"{value}"'
            else:
                text = format(value, "g") if isinstance(value, float) else str(value)
            lines.append(f"{name} = {text}")
    return "\n".join(lines)


def activation_bytes(model: nn.Module, x_shape: tuple[int, ...], layers: list[str] = ()) -> tuple[int, int]:
    """Bytes the forward pass of ``model`` on a ``x_shape`` batch saves for the backward, on the meta device.

    Args:
        model: the net (copied to the meta device in training mode; the net itself is not touched).
        x_shape: ``(B, C, H, W)`` of the input batch.
        layers: names of modules whose outputs are also counted (EQ-Reg's regularized layers).

    Returns:
        ``(saved, outputs)``: the bytes of distinct tensors saved for the backward (the parameters
        excluded), and the bytes of the outputs of ``layers``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))
        >>> activation_bytes(net, (2, 1, 16, 16), ["0"])[1] == 2 * 8 * 16 * 16 * 4
        True
    """
    shadow = copy.deepcopy(model).to("meta").train()
    params = {p.untyped_storage()._cdata for p in shadow.parameters()}
    saved: dict[int, int] = {}
    outputs = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in params:
            saved[storage._cdata] = storage.nbytes()
        return t

    def count(module, args, out):
        if isinstance(out, torch.Tensor):
            outputs[0] += out.numel() * out.element_size()

    modules = dict(shadow.named_modules())
    handles = [modules[name].register_forward_hook(count) for name in layers if name in modules]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            shadow(torch.empty(x_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return sum(saved.values()), outputs[0]


def _sizes(sizes: list[tuple[int, int]]) -> str:
    heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
    pixels = sum(h * w for h, w in sizes)
    return (f"{len(sizes)} images, {min(heights)}-{max(heights)} x {min(widths)}-{max(widths)} px, "
            f"{pixels / 1e6:.1f} Mpx in all")


def dry_run(config: TrainConfig) -> RunPlan:
    """Set the run up on the CPU, without training; see the module's docstring.

    Raises:
        ValueError: whatever the run itself would raise before its first step.
    """
    from eqlab.train.loop import Trainer  # the loop imports this package's config; imported when needed

    trainer = Trainer(config, progress=False, world=World())
    problem = config.problem
    source = trainer.pairs.source
    if problem.data is None:
        train = f"the bundled training images: {_sizes(source.sizes)}"
    elif isinstance(source, PairedFiles):
        train = (f"{problem.data} paired with {problem.data_lr} by name: {len(source)} pairs; inputs "
                 f"{_sizes(source.sizes)}")
    else:
        train = f"{problem.data}{' and its sub-folders' if problem.recursive else ''}: {_sizes(source.sizes)}"
    test_sizes = [tuple(y.shape[-2:]) for y in trainer.val_images]
    test = (f"{config.run.test_data or 'the bundled test images'}: validation on centre crops of at most "
            f"{config.run.val_size} px: {_sizes(test_sizes)}")
    reg = getattr(trainer.arm, "reg", None)
    layers = reg.report() if reg is not None else f"arm {trainer.arm.name}: no penalty, no layer is regularized"

    images = problem.batch_size * (2 if trainer.arm.paired else 1)
    side = problem.patch_size // trainer.task.scale
    names = [layer.name for layer in reg.layers] if reg is not None else []
    saved, terms = activation_bytes(trainer.model, (images, trainer.task.channels, side, side), names)
    count = sum(p.numel() for p in trainer.params)
    memory = dict(parameters=count, weights=4 * count, gradients=4 * count, adam=8 * count,
                  ema=4 * count if trainer.ema is not None else 0, activations=saved, eqreg_terms=terms,
                  images=images, side=side)
    memory["total"] = sum(memory[k] for k in ("weights", "gradients", "adam", "ema", "activations", "eqreg_terms"))
    return RunPlan(config=trainer.config, layers=layers, data=dict(train=train, test=test), memory=memory)

