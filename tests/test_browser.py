"""Real-browser passes over the app: Debian's chromium driven by Playwright (never a downloaded browser).

At 1400 px: clicks through every tab (Explore choices, the channel box and arrow keys, a refused
upload, Restore, a short training, a bad λ that must leave the curves alone, a second training whose
curve, legend entries and labels are then checked at 800, 1024 and 1400 px, Learn) and checks that
the page needs nothing from outside this machine (no CDN, no web fonts). At 600, 800, 1024 and
1400 px: the layout reflows without a horizontal scroll bar, the charts keep a usable width, their shared legend
shows every series, pictures keep their drawn width, and an upload relabels the Image dropdown. Screenshots
of every width and tab go to the test's ``tmp_path`` (and to ``$EQLAB_SCREENSHOTS`` when set).
Skipped when chromium or playwright is missing.
"""

from pathlib import Path

import numpy as np
import pytest
from conftest import running_app, shoot  # noqa: E402
from PIL import Image

pytestmark = pytest.mark.browser

WIDTHS = (800, 1024, 1400)


@pytest.fixture(scope="module")
def url(sync_api):
    """The app on 127.0.0.1 (after ``sync_api``'s skips: no server starts without a browser to drive)."""
    pytest.importorskip("gradio")
    with running_app() as (url, _):
        yield url


def _status(page, elem: str, text: str, timeout: int = 90_000) -> None:
    page.wait_for_function(f"document.querySelector('#{elem}').innerText.includes({text!r})", timeout=timeout)


def _no_overflow(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"horizontal scroll at {width} px: the page is {scroll} px wide"


TEXT_BOXES = """(selector) => Array.from(document.querySelectorAll(selector + ' svg text'))
    .filter((t) => t.textContent.trim() && !t.closest('[opacity="0"]') && getComputedStyle(t).opacity !== '0')
    .map((t) => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; })
    .filter((b) => b[3] > b[1])"""


def _labels_fit(page, selector: str, width: int) -> None:
    """Every text of a chart lies inside the chart, and no two overlap or touch (bounding boxes)."""
    frame = page.locator(selector).bounding_box()
    boxes = page.evaluate(TEXT_BOXES, selector)
    assert boxes, f"{selector}: no text at {width} px"
    for text, left, _top, right, bottom in boxes:
        assert frame["x"] - 1 <= left and right <= frame["x"] + frame["width"] + 1, f"{text!r} clipped in {selector}"
        assert bottom <= frame["y"] + frame["height"] + 1, f"{text!r} below the chart {selector} at {width} px"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = min(a[3], b[3]) - max(a[1], b[1]), min(a[4], b[4]) - max(a[2], b[2])
            assert min(overlap) < -0.5, f"{a[0]!r} touches or overlaps {b[0]!r} in {selector} at {width} px"


def _two_runs_fit(page, tmp_path: Path) -> None:
    """Issue 22: after two trainings both curves are drawn, every legend entry shows, no label overlaps another."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_function("(() => { const s = new Set(Array.from(document.querySelectorAll("
                               "'#train-loss g.mark-line path')).filter((p) => (p.getAttribute('d') || '').length > 20)"
                               ".map((p) => p.getAttribute('stroke'))); return s.size >= 2; })()", timeout=20_000)
        entries = page.locator("#train-legend .entry")
        assert entries.count() == 3  # run 1, run 2 and the degraded input
        boxes = [entries.nth(k).bounding_box() for k in range(3)]
        assert all(b and b["width"] > 20 and b["x"] >= 0 and b["x"] + b["width"] <= width for b in boxes), boxes
        for a, b in zip(boxes, boxes[1:]):  # entries wrap, never overlap
            assert a["x"] + a["width"] <= b["x"] + 1 or a["y"] + a["height"] <= b["y"] + 1, (a, b)
        for selector in ("#train-loss", "#train-psnr"):
            _labels_fit(page, selector, width)
        _no_overflow(page, width)
        shoot(page, tmp_path, f"train-{width}-two-runs")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_every_tab_in_chromium(browser, url, tmp_path):
    outside = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.set_default_timeout(90_000)
    page.goto(url)

    # Explore: the first view is in the page; choices update it; a refused upload is cleared.
    page.locator("#explore-strip img").wait_for()
    page.locator("#explore-panel img").wait_for()
    page.locator("#explore-layers canvas, #explore-layers svg").first.wait_for()
    page.locator("#explore-angles canvas, #explore-angles svg").first.wait_for()
    assert "Relative error of the whole layer" in page.locator("#explore-status").inner_text()
    page.locator("#explore-channel input[type=number]").fill("3")  # no Enter, no Tab: the view follows
    _status(page, "explore-status", "channel 3:")
    page.locator("#explore-channel input[type=range]").press("ArrowRight")
    _status(page, "explore-status", "channel 4:")
    page.locator("#explore-group").get_by_label("C8").check()
    _status(page, "explore-status", "of C8")
    page.locator("#explore-layer input").click()
    page.get_by_role("option", name="tail · trivial (output image)").click()
    _status(page, "explore-status", "layer tail")
    page.locator("#explore-task input").click()
    page.get_by_role("option", name="deblur").click()
    _status(page, "explore-status", "deblur · eqreg")
    assert "layer tail" in page.locator("#explore-status").inner_text()  # tail exists in the U-Net too
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    page.locator("#explore-upload input[type=file]").set_input_files(str(notes))
    _status(page, "explore-status", "your upload was not used")
    page.wait_for_function("!document.querySelector('#explore-upload').innerText.includes('notes.png')")
    shoot(page, tmp_path, "explore-1400-c8")

    # Restore & compare: the slider, the maps and the table.
    page.get_by_role("tab", name="Restore & compare").click()
    page.get_by_role("button", name="Restore", exact=True).click()
    page.locator("#restore-maps img").wait_for()
    assert page.locator("#restore-slider img").count() >= 1
    assert "strict" in page.locator("#restore-table").inner_text()
    shoot(page, tmp_path, "restore-1400")

    # Train: ten steps, live curves; then a bad λ leaves the curves and the status as they were.
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-mode").get_by_label("fixed λ").check()
    page.locator("#train-start input").click()
    page.get_by_role("option", name="scratch", exact=True).click()
    steps = page.locator("#train-steps input[type=number]")
    steps.fill("10")
    steps.press("Enter")
    page.get_by_role("button", name="Train", exact=True).click()
    _status(page, "train-status", "Done", timeout=180_000)
    page.locator("#train-loss canvas, #train-loss svg").first.wait_for()
    page.locator("#train-psnr canvas, #train-psnr svg").first.wait_for()
    weight = page.locator("#train-weight input")
    weight.fill("5")
    weight.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    try:
        page.get_by_text("must be between 0 and 1").first.wait_for(timeout=30_000)
    finally:
        shoot(page, tmp_path, "train-1400-bad-weight")
    assert "Done" in page.locator("#train-status").inner_text()
    assert page.locator("#train-loss canvas, #train-loss svg").count() >= 1
    weight.fill("0.001")
    seed = page.get_by_label("Seed")
    seed.fill("1")
    seed.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()  # a second run: drawn beside the first
    page.wait_for_function("(() => { const s = document.querySelector('#train-status').innerText; "
                           "return s.includes('#2') && s.includes('Done'); })()", timeout=180_000)
    _two_runs_fit(page, tmp_path)
    shoot(page, tmp_path, "train-1400")

    # Learn: three pictures, drawn when the tab opens; the Train tab's message stays behind.
    page.get_by_role("tab", name="Learn").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=toast-close]').length == 0", timeout=5_000)
    for elem in ("learn-rotate", "learn-channels", "learn-grid"):
        page.locator(f"#{elem} img").wait_for()
    angle = page.locator("input[type=range]:visible").first  # the arrow keys redraw, without a release
    angle.press("ArrowRight")
    page.get_by_text("Rotated by 105°").first.wait_for(timeout=30_000)
    page.locator("input[type=number]:visible").first.fill("45")  # a typed value redraws, without Enter or Tab
    page.get_by_text("Rotated by 45°").first.wait_for(timeout=30_000)
    shoot(page, tmp_path, "learn-1400")
    page.close()
    assert outside == [], f"the page asked for outside resources: {outside[:5]}"
    for name in ("explore-1400-c8", "restore-1400", "train-1400", "learn-1400"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


@pytest.mark.parametrize("width", (600, *WIDTHS))
def test_layout_at_width(browser, url, tmp_path, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(90_000)
    page.goto(url)
    page.locator("#explore-panel img").wait_for()
    page.locator("#explore-layers canvas, #explore-layers svg").first.wait_for()
    page.wait_for_timeout(1500)  # let the charts settle at their final width
    _no_overflow(page, width)
    for chart in ("explore-layers", "explore-angles", "explore-spectrum"):
        box = page.locator(f"#{chart}").bounding_box()
        assert box["width"] >= min(360, width - 60), f"{chart} collapsed to {box['width']:.0f} px at {width} px"
    _labels_fit(page, "#explore-spectrum", width)  # the field spectrum: arms, components, axis titles
    # issue 27: the charts' shared legend shows every series at every width (a chart's own legend dropped one)
    entries = page.locator("#explore-legend .entry")
    assert entries.count() >= 5  # plain, augment, eqreg, strict, the interpolation floor
    for k in range(entries.count()):
        box = entries.nth(k).bounding_box()
        assert box and box["width"] > 20 and box["x"] >= 0 and box["x"] + box["width"] <= width, (k, box, width)
    for elem in ("explore-strip", "explore-panel"):  # a picture never shrinks below the width it is drawn for
        drawn, shown = page.evaluate("(elem) => { const i = document.querySelector('#' + elem + ' img'); "
                                     "return [i.naturalWidth, i.clientWidth]; }", elem)
        floor = min(drawn, 760) if width <= 800 else 0.85 * drawn  # below 800 px: its drawn width, scrolled
        assert shown >= floor - 2, f"{elem}: drawn {drawn} px, shown {shown} px at {width} px"
    strip = page.locator("#explore-strip img").bounding_box()
    assert strip["width"] >= min(600, width - 80), f"the strip is {strip['width']:.0f} px wide at {width} px"
    upload = tmp_path / "upload.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(upload)
    page.locator("#explore-upload input[type=file]").set_input_files(str(upload))  # the Image says it is unused
    page.get_by_text("Image: not used while your upload is shown").first.wait_for()
    shoot(page, tmp_path, f"explore-{width}")
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-loss").wait_for()
    page.wait_for_timeout(800)
    _no_overflow(page, width)
    assert page.locator("#train-loss").bounding_box()["width"] >= min(360, width - 60)
    shoot(page, tmp_path, f"train-{width}")
    page.close()
    shot = np.asarray(Image.open(tmp_path / f"explore-{width}.png"))
    assert shot.shape[1] == width and shot.std() > 20  # a real page, not a blank one
