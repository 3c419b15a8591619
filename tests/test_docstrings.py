"""Docstrings: every public name has one, and every ``>>>`` example in the package runs.

*Public* means a module of ``eqlab`` (every subpackage, the app's included), a name in its ``__all__``, and the
public methods and properties of the classes among them. A method that overrides a documented method of an
eqlab base class inherits its docstring (as ``help()`` and the site's API pages show it). Constants in
``__all__`` are not checked: a value has no docstring of its own. A dataclass's generated ``Name(field, ...)``
does not count as a docstring.

The examples run with each module's globals, as ``pytest --doctest-modules eqlab`` runs them, one test per
module that has ``>>>`` lines, so the README's test command runs them too.
"""

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import eqlab

MODULES = sorted(info.name for info in pkgutil.walk_packages(eqlab.__path__, "eqlab.")
                 if not info.name.endswith("__main__"))  # __main__ runs the CLI when imported
WITH_EXAMPLES = [name for name in MODULES if ">>>" in Path(importlib.util.find_spec(name).origin).read_text()]


def _import(name: str):
    if name.startswith("eqlab.app"):
        pytest.importorskip("gradio")
    if name in ("eqlab.widgets",):
        pytest.importorskip("ipywidgets")
    return importlib.import_module(name)


def _own_doc(obj) -> str:
    """The object's own docstring, '' for none or for the signature a dataclass or namedtuple generates."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    doc = (doc or "").strip()
    if inspect.isclass(obj) and re.fullmatch(rf"{re.escape(obj.__name__)}\(.*\)", doc, flags=re.S):
        return ""
    return doc


def _function(member):
    return member.fget if isinstance(member, property) else getattr(member, "__func__", member)


def _method_documented(cls, name: str) -> bool:
    """Whether ``cls.name`` or the eqlab method it overrides has a docstring."""
    return any(base.__module__.startswith("eqlab") and name in base.__dict__
               and (_function(base.__dict__[name]).__doc__ or "").strip() for base in cls.__mro__)


def undocumented(module) -> list[str]:
    """The public names of ``module`` (its ``__all__``, their public methods) that have no docstring."""
    missing = [] if (module.__doc__ or "").strip() else [f"{module.__name__} (the module)"]
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not obj.__module__.startswith("eqlab"):
            continue  # constants, and names re-exported from torch or the standard library
        if not _own_doc(obj):
            missing.append(f"{module.__name__}.{name}")
        if inspect.isclass(obj):
            for attr, member in obj.__dict__.items():
                is_method = inspect.isfunction(_function(member)) or isinstance(member, property)
                if not attr.startswith("_") and is_method and not _method_documented(obj, attr):
                    missing.append(f"{module.__name__}.{name}.{attr}")
    return missing


def test_undocumented_finds_a_missing_docstring():
    import types

    module = types.ModuleType("eqlab.fake", "A module.")

    def documented():
        """Does something."""

    def bare():
        pass

    for function in (documented, bare):
        function.__module__ = "eqlab.fake"
    module.documented, module.bare, module.__all__ = documented, bare, ["documented", "bare"]
    assert undocumented(module) == ["eqlab.fake.bare"]


def test_every_public_name_has_a_docstring():
    missing = [name for module in MODULES for name in undocumented(_import(module))]
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)


def test_some_modules_have_examples():
    assert len(WITH_EXAMPLES) >= 30, WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name):
    module = _import(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    assert tests, f"{name}: its >>> lines are in no docstring doctest finds"
    failed = []
    for test in tests:
        report: list[str] = []
        result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=report.append)
        if result.failed:
            failed.append("".join(report))
    assert not failed, "\n".join(failed)
