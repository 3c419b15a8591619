"""Named training recipes: plain TOML files that ``eqlab train --recipe NAME_OR_PATH`` reads.

A recipe has one table per section of ``eqlab.train.TrainConfig`` (``[problem]``, ``[net]``,
``[method]``, ``[optim]``, ``[run]``) holding some of its fields, each with a comment saying where
its value comes from. Fields it leaves out keep their defaults; flags on the command line override
it (``eqlab train --recipe swinir-sr-x2 --steps 1000``). ``"none"`` is ``None``, as on the command line.

=========================  ===============================================================
recipe                     what
=========================  ===============================================================
swinir-sr-x2               SwinIR classical SR x2, DIV2K -> Set5 / Set14, with EQ-Reg
swinir-denoise-color-50    SwinIR colour denoising, sigma = 50, with EQ-Reg
=========================  ===============================================================

What is here: ``names()``, ``recipe_path(name_or_path)``, ``load_recipe(name_or_path)``.
What is not here: the fields themselves (``eqlab.train.config``), the command line (``eqlab.cli``).

Example:
    >>> config = TrainConfig.of(**load_recipe("swinir-sr-x2"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

__all__ = ["RECIPES_DIR", "names", "recipe_path", "load_recipe"]

RECIPES_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The names of the bundled recipes, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_path(name_or_path: str | Path) -> Path:
    """The file of a recipe: an existing path, else a bundled name.

    Raises:
        ValueError: neither a file nor a bundled name (the message lists the names).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    if str(name_or_path) in names():
        return RECIPES_DIR / f"{name_or_path}.toml"
    raise ValueError(f"recipe {str(name_or_path)!r} is neither a file nor a bundled recipe {names()}")


def load_recipe(name_or_path: str | Path) -> dict:
    """The fields of a recipe, flat: ``{field: value}`` for ``TrainConfig.of`` or as CLI defaults.

    Raises:
        ValueError: an unknown recipe, a file that is not TOML, a table that is not a config section,
            or a field that is not in its table's section (the message names it, and close names).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValueError("reading a recipe needs Python 3.11 (tomllib) or the package tomli") from None
    from eqlab.train.config import SECTIONS

    path = recipe_path(name_or_path)
    try:
        tables = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"recipe {str(path)!r} is not valid TOML: {err}") from None
    values = {}
    for section, table in tables.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise ValueError(f"recipe {str(path)!r}: [{section}] is not a config section; expected some of "
                             f"{list(SECTIONS)}")
        fields = [f.name for f in dataclasses.fields(SECTIONS[section])]
        for key, value in table.items():
            if key not in fields:
                hint = "".join(f" (did you mean {c!r}?)" for c in difflib.get_close_matches(key, fields, 1))
                raise ValueError(f"recipe {str(path)!r}: [{section}] has no field {key!r}{hint}")
            values[key] = None if value == "none" else value
    return values
