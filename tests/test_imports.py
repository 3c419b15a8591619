"""The layering of docs/architecture.md: core modules never import matplotlib, ipywidgets or gradio."""

import subprocess
import sys

CORE = ["eqlab", "eqlab.machine", "eqlab.groups", "eqlab.layouts", "eqlab.layers", "eqlab.data", "eqlab.probe",
        "eqlab.selection", "eqlab.regularizer", "eqlab.metrics", "eqlab.models", "eqlab.tasks", "eqlab.arms",
        "eqlab.checkpoint", "eqlab.train", "eqlab.zoo", "eqlab.experiments", "eqlab.cli"]
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
