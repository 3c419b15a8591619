"""Argument checks shared by the constructors and the training config.

Each check raises ``ValueError`` naming the argument and the value it got, and returns nothing:
the caller keeps its own conversion. ``bool`` is never accepted as a number (``True`` is an ``int``
to Python, but ``weight=True`` is a mistake).

What is here: ``check_number``, ``check_int``, ``check_choice``. What is not here: checks of
tensors and shapes (each module states and checks its own).
"""

from __future__ import annotations

import math

__all__ = ["check_number", "check_int", "check_choice"]


def check_number(name: str, value, low: float = -math.inf, high: float = math.inf, *, open_low: bool = False,
                 open_high: bool = False, optional: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number between ``low`` and ``high``.

    Args:
        name: how the message names the value, e.g. ``"weight"``.
        low, high: the bounds, included unless ``open_low`` / ``open_high``.
        optional: ``None`` is accepted too.

    Example:
        >>> check_number("layer_fraction", 0.5, 0, 1, open_low=True)
        >>> check_number("weight", -1.0, 0)
        Traceback (most recent call last):
        ...
        ValueError: weight must be a finite number >= 0, got -1.0
    """
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or value > high or (open_low and value == low) or (open_high and value == high):
        if high == math.inf:
            bounds = f"{'>' if open_low else '>='} {low:g}"
        else:
            bounds = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be {'None or ' if optional else ''}a finite number {bounds}, got {value!r}")


def check_int(name: str, value, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an ``int`` (not a ``bool``) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
