"""The documentation site (``mkdocs.yml``): it builds with warnings as errors, fetches nothing from the
internet, and a real browser finds in it what a reader looks for.

``mkdocs build --strict`` runs once per session into ``tmp_path`` (a broken link, a missing docstring
reference or a notebook that fails fails it). The notebooks come executed in quick mode from
``build/notebooks/``, where ``tests/test_notebooks.py`` leaves them (this file runs after it); a notebook
without a current copy is executed by the build (``scripts/site_hooks.py``).

The browser pass (Debian's chromium through Playwright, as ``tests/test_browser.py``) serves the built
site on 127.0.0.1 and checks: a notebook page shows its figures (every image output of the executed
notebook is an ``img`` that loaded), the API page of ``EQReg`` renders its signature and methods, search
finds "orientation", no request leaves 127.0.0.1, and no page scrolls sideways at 800 and 1400 px.
Screenshots go to the test's ``tmp_path`` (and to ``$EQLAB_SCREENSHOTS`` when set). Skipped without the
``docs`` extra.
"""

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import shoot

for _name in ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings_handlers.python", "jupyter_server_mathjax"):
    pytest.importorskip(_name, reason="the docs extra is not installed (python -m pip install -e '.[docs]')")

pytestmark = pytest.mark.timeout(1800)  # the build executes a notebook that has no current executed copy

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "04_denoising_four_arms"  # the page whose figures the browser checks
WIDTHS = (800, 1400)
FETCHES = re.compile(r"""<(?:script|img|source|iframe)\b[^>]*\bsrc=["']((?:https?:)?//[^"']+)"""
                     r"""|<link\b[^>]*\bhref=["']((?:https?:)?//[^"']+)|url\(\s*["']?((?:https?:)?//[^)"']+)""",
                     re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner about its successor
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    print(f"mkdocs build --strict: {time.perf_counter() - start:.0f} s")
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    return out


def test_site_builds_with_every_page(site):
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    expected = {"index.html", "api/regularizer.html", "api/groups.html", "api/metrics.html", "api/arms.html",
                "api/zoo.html", "regimes.html", "orientation.html", "results.html", "architecture.html"}
    assert expected | {f"notebooks/{n}.html" for n in notebooks} <= pages


def test_built_pages_fetch_nothing_from_the_internet(site):
    remote = {}
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        found = [next(g for g in m.groups() if g) for m in FETCHES.finditer(path.read_text(errors="replace"))]
        if found:
            remote[path.relative_to(site).as_posix()] = sorted(set(found))[:3]
    assert not remote, f"pages that load scripts, styles, fonts or images from outside: {remote}"


def test_notebook_pages_hold_their_figures(site):
    executed = json.loads((ROOT / "build" / "notebooks" / f"{NOTEBOOK}.ipynb").read_text())
    figures = sum("image/png" in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", []))
    html = (site / "notebooks" / f"{NOTEBOOK}.html").read_text()
    assert figures >= 1 and html.count("data:image/png;base64,") >= figures


def test_docstring_math_and_roles_become_markdown():
    spec = importlib.util.spec_from_file_location("site_hooks", ROOT / "scripts" / "site_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    text = ("Intro.\n\n.. math:: e = \\frac{a}{b},\n          \\quad b > 0\n\nThe norm :math:`\\|d\\|` of "
            ":func:`~eqlab.metrics.psnr`.\n\nExample:\n    >>> 1 + 1\n    2\n")
    out = hooks.rst_to_markdown(text)
    assert "$$\ne = \\frac{a}{b}, \\quad b > 0\n$$" in out and ".. math::" not in out
    assert "$\\|d\\|$" in out and "`eqlab.metrics.psnr`" in out and ":func:" not in out
    assert "Examples:\n    >>> 1 + 1" in out


# -- a real browser (conftest's ``browser``: Debian's chromium) ---------------------------------------------


@pytest.fixture(scope="module")
def served(site):
    """The built site on http://127.0.0.1:PORT (search needs http: its worker fetches the index)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def page(browser, served):
    """A page that records every request leaving 127.0.0.1 (``page.outside``)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.outside = []
    page.on("request", lambda r: None if r.url.startswith((served, "data:", "blob:")) else page.outside.append(r.url))
    yield page
    context.close()


def _fits(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"horizontal scroll at {width} px: {page.url} is {scroll} px wide"


def _at_every_width(page, tmp_path: Path, name: str, anchor=None) -> None:
    """At each of ``WIDTHS``: the page (scrolled to ``anchor``, a locator) fits without horizontal scroll; a shot."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if anchor is not None:
            anchor.scroll_into_view_if_needed()
        _fits(page, width)
        shoot(page, tmp_path, f"{name}-{width}", full_page=False)


@pytest.mark.browser
def test_notebook_page_shows_its_figures(page, served, tmp_path):
    executed = json.loads((ROOT / "build" / "notebooks" / f"{NOTEBOOK}.ipynb").read_text())
    figures = sum("image/png" in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", []))
    page.goto(f"{served}/notebooks/{NOTEBOOK}.html", wait_until="load")
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('.jupyter-wrapper img'))
        .filter((img) => img.complete && img.naturalWidth > 0).map((img) => img.getBoundingClientRect().width)""")
    assert len(shown) >= figures >= 1, f"{len(shown)} figures shown, the executed notebook has {figures}"
    assert min(shown) > 100, f"a figure is drawn {min(shown):.0f} px wide"
    _at_every_width(page, tmp_path, "site-notebook", page.locator(".jupyter-wrapper img").first)
    assert not page.outside, f"requests outside 127.0.0.1: {page.outside[:5]}"


@pytest.mark.browser
def test_api_page_of_eqreg_renders(page, served, tmp_path):
    page.goto(f"{served}/api/regularizer.html#eqlab.regularizer.EQReg", wait_until="load")
    heading = page.locator("[id='eqlab.regularizer.EQReg']")
    assert heading.is_visible() and "EQReg" in heading.inner_text()
    text = page.locator("article").inner_text()
    for method in ("active", "loss", "stats", "report", "remove"):
        assert page.locator(f"[id='eqlab.regularizer.EQReg.{method}']").count() == 1, f"EQReg.{method} is missing"
    assert "EQReg(" in text and ".. math::" not in text and ":math:" not in text  # docstring math converted
    _at_every_width(page, tmp_path, "site-api-eqreg", heading)
    assert not page.outside, f"requests outside 127.0.0.1: {page.outside[:5]}"


@pytest.mark.browser
def test_search_finds_orientation(page, served, tmp_path):
    page.goto(f"{served}/index.html", wait_until="load")
    _at_every_width(page, tmp_path, "site-home")
    page.locator("input.md-search__input").click()
    page.keyboard.type("orientation", delay=20)  # as a reader types: the search listens to key events
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=30_000)
    assert results.count() >= 3
    assert "orientation" in page.locator(".md-search-result").inner_text().lower()
    shoot(page, tmp_path, "site-search-1400", full_page=False)
    assert not page.outside, f"requests outside 127.0.0.1: {page.outside[:5]}"
