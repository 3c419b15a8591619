"""The tutorial notebooks: jupytext pairs in sync (the ``.py`` is the source), well formed, and running in quick mode.

Each ``notebooks/NN_*.py`` (percent format) must match its ``.ipynb`` in cell types and sources only, so an
``.ipynb`` saved with outputs still passes. Each notebook is read from its ``.py`` and runs in a fresh
``python3`` kernel with ``EQLAB_QUICK=1`` (small images, few steps) and ``MPLBACKEND=Agg``; any cell error
fails the test with the cell's traceback. The time of each notebook is printed and recorded
(``record_property``), never asserted. ``OMP_WAIT_POLICY=PASSIVE`` keeps OpenMP threads from spinning when
the CPU is shared (measured: a 60-step run took 7x longer without it on a busy 2-core machine).
"""

import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
RESYNC = "resync with `jupytext --sync notebooks/*.ipynb` (the newer file of each pair wins)"


def _cells(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_every_notebook_is_a_jupytext_pair_in_sync():
    assert SOURCES, f"no notebooks/[0-9][0-9]_*.py in {NOTEBOOK_DIR}"
    orphans = sorted({p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")} - {p.stem for p in SOURCES})
    assert not orphans, f"notebooks without their .py source: {orphans}; create it with `jupytext --to py:percent`"
    problems = []
    for path in SOURCES:
        source = jupytext.read(path)
        jupytext_metadata = source.metadata.get("jupytext", {})
        if jupytext_metadata.get("formats") != "ipynb,py:percent":
            problems.append(f"{path.name}: its header does not pair it with the .ipynb (formats: ipynb,py:percent)")
        if source.metadata.get("kernelspec", {}).get("name") != "python3":
            problems.append(f"{path.name}: its header names no python3 kernelspec")
        notebook = path.with_suffix(".ipynb")
        if not notebook.exists():
            problems.append(f"{notebook.name} is missing: create it with `jupytext --sync notebooks/{path.name}`")
        elif _cells(jupytext.read(notebook)) != _cells(source):
            problems.append(f"{notebook.name} and {path.name} differ in their cells: {RESYNC}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_starts_with_what_you_will_learn_and_has_a_quick_mode(path):
    cells = jupytext.read(path).cells
    assert cells[0].cell_type == "markdown" and "What you will learn" in cells[0].source
    assert any("EQLAB_QUICK" in cell.source for cell in cells)


def _kernel_available(name: str) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, monkeypatch, tmp_path, record_property):
    assert _kernel_available("python3"), "no 'python3' Jupyter kernel: run `python -m ipykernel install --user`"
    monkeypatch.setenv("EQLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    nb = jupytext.read(path)  # the source of truth, not the .ipynb
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s in quick mode")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
