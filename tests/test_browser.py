"""One real-browser pass over the app: Debian's chromium driven by Playwright (never a downloaded browser).

Clicks through every tab, checks that the images and plots appear, that a short training run
finishes, and that the page needs nothing from outside this machine (no CDN, no web fonts).
Screenshots of each tab are saved under the test's ``tmp_path``. Skipped when chromium or
playwright is missing.
"""

import os
import shutil

import pytest

from conftest import running_app  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def sync_api():
    """Playwright's sync API, after the skips (checked before any server starts)."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser build
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def url(sync_api):
    pytest.importorskip("gradio")
    with running_app() as url:
        yield url


def test_every_tab_in_chromium(sync_api, url, tmp_path):
    outside = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
            page.set_default_timeout(90_000)
            page.goto(url)

            # Explore: the rotation panel and both charts appear on load.
            page.locator("#explore-panel img").wait_for()
            page.locator("#explore-layers canvas, #explore-layers svg").first.wait_for()
            page.locator("#explore-angles canvas, #explore-angles svg").first.wait_for()
            assert "error with P_g" in page.locator("#explore-status").inner_text()
            page.get_by_label("C8").check()
            page.wait_for_function("document.querySelector('#explore-status').innerText.includes('of C8')")
            page.screenshot(path=tmp_path / "explore.png", full_page=True)

            # Restore & compare: the slider, the maps and the table.
            page.get_by_role("tab", name="Restore & compare").click()
            page.get_by_role("button", name="Restore", exact=True).click()
            page.locator("#restore-maps img").wait_for()
            assert page.locator("#restore-slider img").count() >= 1
            assert "strict" in page.locator("#restore-table").inner_text()
            page.screenshot(path=tmp_path / "restore.png", full_page=True)

            # Train: ten steps, live curves, a result the other tabs can use.
            page.get_by_role("tab", name="Train").click()
            steps = page.locator("#train-steps input[type=number]")
            steps.fill("10")
            steps.press("Enter")
            page.get_by_role("button", name="Train", exact=True).click()
            page.wait_for_function("document.querySelector('#train-status').innerText.includes('Done')",
                                   timeout=180_000)
            page.locator("#train-loss canvas, #train-loss svg").first.wait_for()
            page.screenshot(path=tmp_path / "train.png", full_page=True)

            # Learn: three pictures.
            page.get_by_role("tab", name="Learn").click()
            for elem in ("learn-rotate", "learn-channels", "learn-grid"):
                page.locator(f"#{elem} img").wait_for()
            page.screenshot(path=tmp_path / "learn.png", full_page=True)
        finally:
            browser.close()
    assert outside == [], f"the page asked for outside resources: {outside[:5]}"
    for name in ("explore", "restore", "train", "learn"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
