"""Shared test set-up.

OpenMP threads that spin while waiting make every process slow on a busy 2-core machine (the
app server, notebook kernels and DDP workers all run beside pytest): make them sleep instead.
Must be set before torch is imported, so it lives here.

Also here: the app on a free port (``running_app``), small image folders, and what the browser tests
(``test_browser.py``, ``test_site.py``) share: Debian's chromium (``CHROMIUM``, ``sync_api``, ``browser``)
and ``shoot`` for their screenshots.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

import contextlib
import shutil
import socket
from pathlib import Path

import pytest
import torch

CHROMIUM = next((path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(path)),
                shutil.which("chromium") or shutil.which("chromium-browser"))  # Debian's, never playwright's own


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for the app's test servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two shared cores: several processes' intra-op threads thrash; one thread is faster and steadier.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@contextlib.contextmanager
def running_app(models: str = "random"):
    """The Gradio app on a free 127.0.0.1 port; yields ``(url, demo)`` (``demo.eqlab`` is its ``App``).

    Untrained nets by default (``models="random"``: nothing to load); ``"auto"`` serves the shipped zoo.
    One torch thread, as ``eqlab demo`` uses on a 2-core machine (concurrent requests, one core each);
    its own cache folder, so that the first view is computed by the code under test.
    """
    import tempfile

    import eqlab.app as app

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="eqlab-app-test-") as cache:
        demo = app.build_app(models=models, cache_dir=cache)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **app.launch_kwargs())
        try:
            yield f"http://127.0.0.1:{port}/", demo
        finally:
            demo.close()
            demo.eqlab.close()
            torch.set_num_threads(threads)


@pytest.fixture
def rgb_folder(tmp_path):
    """A folder of 4 smooth 72-px colour PNGs (gradients and waves): a few steps of restoration visibly help."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "rgb"
    path.mkdir()
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, 72)
    for i in range(4):
        u, v = np.meshgrid(grid + 0.1 * i, grid[::-1])
        channels = [np.sin(2 * np.pi * (f * u + g * v) + phase) for f, g, phase in rng.uniform(0.5, 2.5, (3, 3))]
        Image.fromarray((127.5 + 100 * np.stack(channels, axis=-1)).clip(0, 255).astype(np.uint8)).save(
            path / f"im{i}.png")
    return path


@pytest.fixture
def paired(tmp_path):
    """HR images in a nested folder and their x2 inputs (DIV2K's naming, '0001x2.png'), made by Pillow's bicubic."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    for name, (h, w) in (("0001", (70, 81)), ("sub/0002", (64, 64))):
        hr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for root, image in ((tmp_path / "HR", hr), (tmp_path / "LR",
                                                    np.array(Image.fromarray(hr).resize((w // 2, h // 2))))):
            path = root / (name + ("x2" if root.name == "LR" else "") + ".png")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
    return tmp_path


@pytest.fixture(scope="module")
def sync_api():
    """Playwright's sync API, after the skips (no chromium, no playwright); request it before starting a server."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser build
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def browser(sync_api):
    """Headless chromium (``CHROMIUM``), one per test module, closed after it."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        yield browser
        browser.close()


def shoot(page, tmp_path: Path, name: str, full_page: bool = True) -> None:
    """Screenshot ``page`` to ``tmp_path/name.png`` (the whole page, or the viewport when ``full_page`` is False),
    copied to ``$EQLAB_SCREENSHOTS`` when that is set."""
    page.screenshot(path=tmp_path / f"{name}.png", full_page=full_page)
    extra = os.environ.get("EQLAB_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / f"{name}.png", Path(extra) / f"{name}.png")
