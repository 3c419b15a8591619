"""Checkpoints: one safetensors file holding the weights, the optimizer state and a JSON card.

What is here:
    - ``save_checkpoint``: write a checkpoint atomically (``eqlab.files.atomic_path``), so a crash
      mid-write never leaves a half-written checkpoint behind.
    - ``load_checkpoint``: rebuild the model with ``eqlab.models.build`` and load its weights,
      checking everything that can go wrong; every problem is a ``ValueError`` naming the file.
    - ``read_meta``: the JSON card alone, without reading any tensor.
    - ``color_of``: a card's colour mode, ``"gray"`` or ``"rgb"``, from its net's channels (the run's
      ``--color``, in the card's config, is checked against it on load).

What is not here: when to save or how to resume a run (``eqlab.train``), shipped checkpoints
(``eqlab.zoo``).

File format (``FORMAT_VERSION = 1``), a single ``.safetensors`` file:
    - tensors ``model.<name>``: the model's ``state_dict()``, stored on the CPU, dtype kept.
    - tensors ``optimizer.<param index>.<key>``: the tensors of ``optimizer.state_dict()["state"]``
      (e.g. Adam's ``exp_avg``, ``exp_avg_sq``, ``step``), so a resumed run is bit-exact.
    - tensors ``rng.<name>``: ``torch.Generator.get_state()`` byte tensors (data, noise, ...).
    - tensors ``ema.<name>`` (optional): the ``state_dict()`` of the moving average of the weights
      (``eqlab.train.ema``), with its own ``ema_checksum`` in the card.
    - header metadata ``{"eqlab": <JSON>}`` with keys ``format`` (1), ``model`` (registry name),
      ``model_config`` (``model.config``), ``config`` (the ``TrainConfig`` as a dict), ``step``,
      ``history``, ``extra``, ``optimizer`` (non-tensor optimizer state: ``param_groups`` and
      scalars) and ``checksum`` (SHA-256 of the model tensors, in name order).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn as nn

from eqlab.files import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "read_meta", "color_of", "weights_checksum", "unwrap",
           "FORMAT_VERSION"]

FORMAT_VERSION = 1
_META_KEY = "eqlab"


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a ``DistributedDataParallel`` / ``DataParallel`` / compiled wrapper."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def weights_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 hex digest of the names, dtypes, shapes and raw bytes of ``tensors``, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _json_default(value):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint's JSON card: {value!r}")


def _split_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """``optimizer.state_dict()`` -> (tensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    indices = {i for group in rest["param_groups"] for i in group["params"]}
    for name, value in tensors.items():
        _, index, key = (name.split(".", 2) + ["", ""])[:3]
        if not index.isdigit() or int(index) not in indices or not key:
            raise ValueError(f"optimizer tensor {name!r} names no parameter of its param_groups")
        state.setdefault(int(index), {})[key] = value
    for index, entry in rest.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: dict | None = None, optimizer=None,
                    step: int = 0, history: list | None = None, rng_state: dict[str, torch.Tensor] | None = None,
                    extra: dict | None = None, ema: nn.Module | None = None) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: the ``.safetensors`` file to write; its folder is created.
        model: a model built by ``eqlab.models.build`` (it has ``name`` and ``config``), or a
            DDP / compiled wrapper around one. Weights may live on any device.
        config: the run's configuration as a JSON-able dict (``dataclasses.asdict(TrainConfig)``).
        optimizer: a ``torch.optim.Optimizer`` whose state is stored for an exact resume.
        step: optimizer steps taken so far.
        history: JSON-able list of logged records.
        rng_state: ``{name: generator.get_state()}`` to resume the random streams.
        extra: any other JSON-able metadata (e.g. wall time).
        ema: the moving average of the weights (a net of the same architecture), stored beside them.

    Returns:
        the path written.

    Raises:
        TypeError: ``model`` has no registry ``name`` / ``config``.
        ValueError: metadata that is not JSON-able.
    """
    path = Path(path)
    model = unwrap(model)
    name, model_config = getattr(model, "name", ""), getattr(model, "config", None)
    if not name or not isinstance(model_config, dict):
        raise TypeError(f"model must come from eqlab.models.build (with .name and .config), got {type(model).__name__}")
    weights = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors = dict(weights)
    optimizer_rest = None
    if optimizer is not None:
        optimizer_tensors, optimizer_rest = _split_optimizer(optimizer.state_dict())
        tensors.update(optimizer_tensors)
    for key, state in (rng_state or {}).items():
        tensors[f"rng.{key}"] = state.detach().cpu().contiguous()
    meta = dict(format=FORMAT_VERSION, model=name, model_config=model_config, config=config or {}, step=int(step),
                history=history or [], extra=extra or {}, optimizer=optimizer_rest,
                checksum=weights_checksum({k[len("model."):]: v for k, v in weights.items()}))
    if ema is not None:
        averaged = {k: v.detach().cpu().contiguous() for k, v in unwrap(ema).state_dict().items()}
        if averaged.keys() != {k[len("model."):] for k in weights}:
            raise ValueError(f"checkpoint {str(path)!r}: the moving average does not have the model's weights")
        tensors.update({f"ema.{k}": v for k, v in averaged.items()})
        meta["ema_checksum"] = weights_checksum(averaged)
    try:
        header = json.dumps(meta, default=_json_default)
    except TypeError as err:
        raise ValueError(f"checkpoint {str(path)!r}: {err}") from None

    from safetensors.torch import save_file  # imported here: only checkpoint users need it

    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={_META_KEY: header})
    return path


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} is not a file")


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON card of a checkpoint (no tensors are read).

    Raises:
        ValueError: missing file, not a safetensors file, no eqlab card, a newer format, or a card whose
            fields are missing (``model``, ``model_config``, ``step``, ``checksum``) or of the wrong JSON type.
    """
    from safetensors import safe_open

    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = (handle.metadata() or {}).get(_META_KEY)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"checkpoint {str(path)!r} is corrupt or not a safetensors file: {err}") from None
    if header is None:
        raise ValueError(f"checkpoint {str(path)!r} has no eqlab metadata (was it written by save_checkpoint?)")
    try:
        meta = json.loads(header)
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {str(path)!r}: its metadata is not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint {str(path)!r}: its metadata is a JSON {type(meta).__name__}, not an object")
    if not isinstance(meta.get("format"), int) or meta["format"] > FORMAT_VERSION:
        raise ValueError(f"checkpoint {str(path)!r} has format {meta.get('format')!r}; "
                         f"this eqlab reads formats up to {FORMAT_VERSION}")
    _check_meta(path, meta)
    return meta


# The card's fields and their JSON types (``None`` allowed where the writer may store it).
_FIELDS = dict(model=(str,), model_config=(dict,), config=(dict,), step=(int,), history=(list,), extra=(dict,),
               optimizer=(dict, type(None)), checksum=(str,))
_OPTIONAL = ("config", "history", "extra", "optimizer")  # a card may lack these (read as empty)


def _check_meta(path: Path, meta: dict) -> None:
    """Every field of the card of the JSON type ``save_checkpoint`` writes; a ``ValueError`` naming the file."""
    where = f"checkpoint {str(path)!r}"
    for name, types in _FIELDS.items():
        if name not in meta:
            if name in _OPTIONAL:
                continue
            raise ValueError(f"{where}: its metadata lacks the field {name!r}")
        value = meta[name]
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"{where}: metadata field {name!r} must be {expected}, got {type(value).__name__} "
                             f"{value!r:.80}")
    if meta["step"] < 0:
        raise ValueError(f"{where}: metadata field 'step' must be >= 0, got {meta['step']}")
    for key in ("problem", "net", "method", "optim", "run"):
        if not isinstance(meta.get("config", {}).get(key, {}), dict):
            raise ValueError(f"{where}: metadata config[{key!r}] must be an object, got {meta['config'][key]!r:.80}")
    optimizer = meta.get("optimizer")
    if optimizer is not None:
        groups, scalars = optimizer.get("param_groups"), optimizer.get("scalars", {})
        if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                                   and all(isinstance(i, int) for i in g["params"]) for g in groups):
            raise ValueError(f"{where}: its optimizer section is broken: param_groups must be a list of objects "
                             f"with a list of int 'params', got {groups!r:.80}")
        if not isinstance(scalars, dict) or not all(str(k).isdigit() and isinstance(v, dict)
                                                    for k, v in scalars.items()):
            raise ValueError(f"{where}: its optimizer section is broken: scalars must map parameter indices to "
                             f"objects, got {scalars!r:.80}")


def color_of(meta: dict) -> str | None:
    """The colour mode of a checkpoint's net from its card: ``"gray"`` (1 channel), ``"rgb"`` (3) or ``None``."""
    return {1: "gray", 3: "rgb"}.get((meta.get("model_config") or {}).get("channels"))


def _build(path: Path, name: str, model_config: dict, device: str | None = None) -> nn.Module:
    """``models.build(name, **model_config)``; on the ``meta`` device it allocates nothing (shapes only)."""
    from eqlab import models

    try:
        with torch.device(device) if device else contextlib.nullcontext():
            return models.build(name, **model_config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {str(path)!r}: cannot build {name!r} with {model_config}: {err}") from None


def _check_fits(path: Path, weights: dict[str, torch.Tensor], model: nn.Module) -> None:
    """The file's weights against the model's state (names and shapes); a ``ValueError`` naming the file.

    Run on a ``meta``-device model first, so that a card claiming a huge net (``features=3000`` for a small
    file) is refused before any memory is taken for it.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [f"{k}: file {tuple(weights[k].shape)} vs model {tuple(v.shape)}"
             for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    problems = [f"{what} {items[:5]}" + (f" and {len(items) - 5} more" if len(items) > 5 else "")
                for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong shapes", wrong)) if items]
    if problems:
        raise ValueError(f"checkpoint {str(path)!r} does not fit the architecture {model.name}({model.config}): "
                         + "; ".join(problems))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    ema: bool = False) -> tuple[nn.Module, dict]:
    """Rebuild a model from a checkpoint.

    Args:
        path: a file written by :func:`save_checkpoint`.
        map_location: device for the model and the returned tensors (a GPU checkpoint loads on
            the CPU: tensors are stored device-free).
        ema: load the moving average of the weights when the file holds one (what ``eqlab eval``
            scores); a file without one loads its weights either way.

    Returns:
        ``(model, meta)``: the model in eval mode with the stored weights, and the JSON card plus
        ``meta["optimizer_state"]`` (a ``state_dict`` for ``optimizer.load_state_dict``, or
        ``None``), ``meta["rng_state"]`` (``{name: byte tensor}``), ``meta["ema_state"]`` (the
        moving average's ``state_dict``, or ``None``) and ``meta["weights"]`` (``"ema"`` or
        ``"raw"``: which of the two the model holds).

    Raises:
        ValueError: missing or truncated file, metadata of the wrong JSON types or without a field
            (``step``, ``model``, ...), a broken optimizer section, checksum mismatch, unknown model name,
            or weights that do not fit the architecture (missing / unexpected keys, wrong shapes: checked on a
            ``meta``-device model before the real one is built, so a card's claimed size costs no memory).

    Example:
        >>> model, meta = load_checkpoint("runs/denoise-eqreg/final.safetensors")  # doctest: +SKIP
    """
    from safetensors.torch import load_file

    from eqlab import models  # imported here: models import more than a checkpoint reader needs

    path = Path(path)
    meta = read_meta(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"checkpoint {str(path)!r} is corrupt (truncated or damaged): {err}") from None
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    if weights_checksum(weights) != meta.get("checksum"):
        raise ValueError(f"checkpoint {str(path)!r}: the weights do not match their checksum (the file is damaged)")
    averaged = {k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")} or None
    if averaged is not None and weights_checksum(averaged) != meta.get("ema_checksum"):
        raise ValueError(f"checkpoint {str(path)!r}: the moving average does not match its checksum (the file is "
                         "damaged)")

    name, model_config = meta.get("model"), meta.get("model_config") or {}
    if name not in models.names():
        raise ValueError(f"checkpoint {str(path)!r} holds unknown model {name!r}; known models: {models.names()}")
    try:
        on_meta = _build(path, name, model_config, "meta")  # sizes first, without memory
    except RuntimeError:  # a constructor that reads tensor values (spandrel's SwinIR: its drop-path rates)
        on_meta = None
    if on_meta is not None:
        _check_fits(path, weights, on_meta)
    model = _build(path, name, model_config)
    if on_meta is None:
        _check_fits(path, weights, model)
    color = color_of(meta)
    stored = (meta.get("config") or {}).get("problem", meta.get("config") or {}).get("color")
    if stored is not None and color is not None and stored != color:
        raise ValueError(f"checkpoint {str(path)!r}: its run was --color {stored}, but its net {name} has "
                         f"{model_config.get('channels')} channel(s) (a {color} net)")
    meta["weights"] = "ema" if ema and averaged is not None else "raw"
    model.load_state_dict(averaged if meta["weights"] == "ema" else weights, strict=True)
    model.to(map_location).eval()
    meta["ema_state"] = None if averaged is None else {k: v.to(map_location) for k, v in averaged.items()}

    optimizer_tensors = {k: v.to(map_location) for k, v in tensors.items() if k.startswith("optimizer.")}
    rest = meta.pop("optimizer", None)
    try:
        meta["optimizer_state"] = _join_optimizer(optimizer_tensors, rest) if rest is not None else None
    except ValueError as err:
        raise ValueError(f"checkpoint {str(path)!r}: its optimizer section is broken: {err}") from None
    meta["rng_state"] = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}
    return model, meta
