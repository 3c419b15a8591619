"""The layering of docs/architecture.md: core modules never import matplotlib, ipywidgets or gradio, and no
module imports one that imports it back."""

import ast
import subprocess
import sys
from pathlib import Path

import eqlab

CORE = ["eqlab", "eqlab.machine", "eqlab.groups", "eqlab.layouts", "eqlab.layers", "eqlab.data", "eqlab.probe",
        "eqlab.selection", "eqlab.regularizer", "eqlab.metrics", "eqlab.ensemble", "eqlab.models", "eqlab.tasks",
        "eqlab.testsets", "eqlab.arms", "eqlab.checkpoint", "eqlab.train", "eqlab.zoo", "eqlab.experiments",
        "eqlab.cli"]
FORBIDDEN = ["matplotlib", "ipywidgets", "gradio"]


def test_core_does_not_import_ui_libraries():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as err:\n"
        "        if err.name != name: raise\n"
        f"print([m for m in {FORBIDDEN!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def import_graph() -> dict[str, set[str]]:
    """``{module: the eqlab modules it imports}``, read from the source: imports inside functions count too.

    Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``; a module's own packages are already being imported.
    """
    root = Path(eqlab.__file__).parent
    modules = {".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
               for path in root.rglob("*.py")}
    graph = {}
    for name in modules:
        path = root.parent.joinpath(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        targets = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets += [f"{node.module}.{alias.name}" for alias in node.names]
        graph[name] = {prefix for target in targets for prefix in (".".join(target.split(".")[:i])
                                                                    for i in range(1, target.count(".") + 2))
                       if prefix in modules and not f"{name}.".startswith(f"{prefix}.")}
    return graph


def test_no_import_cycle():
    graph, state = import_graph(), {}

    def cycle(name: str, path: list[str]) -> list[str] | None:  # depth first; an open module met again closes a cycle
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            found = cycle(other, path + [other]) if other not in state else None
            if found:
                return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        found = cycle(name, [name]) if name not in state else None
        assert found is None, "import cycle: " + " -> ".join(found)
