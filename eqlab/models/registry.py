"""A name -> class registry for the restoration nets, and which nets belong to which task.

What is here: ``register`` (a class decorator), ``build``, ``names`` and ``arguments``.
What is not here: the models (they register themselves when ``eqlab.models`` is imported) and which
nets belong to which task (``eqlab.tasks.TASKS``).

Example:
    >>> from eqlab.models import build
    >>> model = build("dncnn", depth=5, features=16)
    >>> twin = build(model.name, **model.config)   # same architecture, fresh weights
"""

from __future__ import annotations

import inspect

import torch.nn as nn

__all__ = ["register", "build", "names", "arguments"]

_MODELS: dict[str, type[nn.Module]] = {}

def register(name: str):
    """Class decorator: make ``build(name)`` construct the class, and set ``cls.name = name``.

    Raises:
        ValueError: if ``name`` is already taken by another class.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty str, got {name!r}")

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_MODELS[name].__name__}")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return decorator


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_MODELS)


def _class(name: str) -> type[nn.Module]:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {names()}")
    return _MODELS[name]


def arguments(name: str) -> tuple[str, ...]:
    """The keyword arguments of net ``name``, read from its constructor's signature (nothing is built).

    Example:
        >>> arguments("srnet")
        ('channels', 'features', 'depth', 'scale')
    """
    parameters = inspect.signature(_class(name).__init__).parameters
    return tuple(p for p in parameters if p != "self")


def build(name: str, **kwargs) -> nn.Module:
    """Construct a registered model.

    Args:
        name: one of ``names()``.
        **kwargs: constructor arguments, e.g. ``scale=3`` for SR nets.

    Returns:
        the model, with ``model.name == name`` and ``model.config`` holding its kwargs.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    return _class(name)(**kwargs)
