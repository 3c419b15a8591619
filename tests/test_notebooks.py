"""The tutorial notebooks: in sync with their generator, stripped, and running in quick mode.

Each notebook runs in a fresh ``python3`` kernel with ``EQLAB_QUICK=1`` (small images, few steps)
and ``MPLBACKEND=Agg``; any cell error fails the test with the cell's traceback. The time of each
notebook is printed and recorded (``record_property``), never asserted. ``OMP_WAIT_POLICY=PASSIVE``
keeps OpenMP threads from spinning when the CPU is shared (measured: a 60-step run took 7x longer
without it on a busy 2-core machine).
"""

import importlib.util
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def _generator():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOK_DIR / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_is_generated_and_stripped():
    generator = _generator()
    assert [p.stem for p in NOTEBOOKS] == list(generator.NOTEBOOKS)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        expected = generator.build(path.stem)
        assert [c.source for c in nb.cells] == [c.source for c in expected.cells], \
            f"{path.name} differs from notebooks/build_notebooks.py; rerun it"
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
        assert "What you will learn" in nb.cells[0].source
        assert any("EQLAB_QUICK" in c.source for c in nb.cells)


def _kernel_available(name: str) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, monkeypatch, tmp_path, record_property):
    assert _kernel_available("python3"), "no 'python3' Jupyter kernel: run `python -m ipykernel install --user`"
    monkeypatch.setenv("EQLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s in quick mode")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
