"""The built course site in a real browser: every chapter page shows its widgets' static
pictures (loaded, not broken, legible: 7 pt text at 9 CSS px or more, nothing over them) and
offers its launch links; the root leads to the landing page; the sidebar lists each lab once,
and its solution in a section of its own."""

from __future__ import annotations

import base64
import shutil
import struct
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "site"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                              args=["--no-sandbox"])
        yield b
        b.close()


def test_the_root_opens_the_landing_page(browser, built_site):
    page = browser.new_page()
    page.goto((built_site / "index.html").as_uri())
    page.wait_for_url("**/docs/index.html")
    assert page.locator("a:has-text('Welcome')").count() >= 1
    page.close()


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_shows_its_pictures_and_launch_links(browser, built_site, nb):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto((built_site / "notebooks" / f"{nb.stem}.html").as_uri())
        images = page.locator("main img")
        assert images.count() >= 1
        sizes = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)")
        assert all(w > 0 for w in sizes), f"a picture did not load: {sizes}"
        hrefs = page.locator("a[href]").evaluate_all("as => as.map(a => a.href)")
        assert any("mybinder.org/v2/gh/example/mmlab" in h and nb.stem in h for h in hrefs)
        assert any("/lite/lab/index.html?path=notebooks/" in h and nb.stem in h for h in hrefs)
        page.screenshot(path=str(ARTIFACTS / f"{nb.stem}.png"))
    finally:
        page.close()


#: Text of 7 pt (the smallest the pictures use) must be at least this tall on the page, in CSS px.
MIN_TEXT_PX = 9.0


def _png_dpi(src: str) -> float:
    """The resolution a PNG data URL says it was drawn at (its pHYs chunk)."""
    data = base64.b64decode(src.split("base64,", 1)[1])
    at = data.find(b"pHYs")
    per_metre, _y, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert at > 0 and unit == 1, "the picture does not say its resolution"
    return per_metre * 0.0254


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_explorer_pictures_are_legible_on_the_page(browser, built_site, nb):
    """Each explorer's static picture is shown large enough that its 7 pt text (the smallest
    the pictures use) is at least 9 CSS px tall, sharp (at least one image pixel per CSS
    pixel), and nothing of the page (the contents sidebar) covers it once it is in view."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto((built_site / "notebooks" / f"{nb.stem}.html").as_uri())
        pictures = page.locator("figure.mmlab-picture img")
        for i in range(pictures.count()):
            img = pictures.nth(i)
            img.evaluate("i => i.scrollIntoView({block: 'center'})")
            page.wait_for_timeout(400)  # the theme folds its contents sidebar away
            natural, shown, covered = img.evaluate("""i => {
                const r = i.getBoundingClientRect();
                const top = Math.max(r.top, 60), bottom = Math.min(r.bottom, innerHeight);
                const probes = [0.1, 0.5, 0.95].map(
                    f => document.elementFromPoint(r.left + f * r.width, (top + bottom) / 2));
                return [i.naturalWidth, r.width,
                        probes.filter(e => e !== i).map(e => e.className)];
            }""")
            # 7 pt is 7 * dpi / 72 pixels of the image, shown at shown / natural CSS px each
            text_px = 7 * _png_dpi(img.get_attribute("src")) / 72 * shown / natural
            alt = img.get_attribute("alt")[:40]
            assert text_px >= MIN_TEXT_PX, f"picture {i} ({alt}): 7 pt text is {text_px:.1f} px"
            assert natural >= shown, f"picture {i} ({alt}): fewer image pixels than CSS pixels"
            assert not covered, f"picture {i} ({alt}) is covered by {covered}"
            if nb.stem.startswith("07") or "step" in alt:
                img.screenshot(path=str(ARTIFACTS / f"{nb.stem}-picture-{i}.png"))
    finally:
        page.close()


def test_the_sidebar_lists_each_lab_once_and_its_solution_apart(browser, built_site):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto((built_site / "docs" / "index.html").as_uri())
        nav = page.locator("nav.bd-links").inner_text()
        captions = page.locator("nav.bd-links p.caption").all_inner_texts()
        assert any("Lab solutions" in c for c in captions), captions
        for number in ("01", "02", "03", "04", "05", "06"):
            assert nav.count(f"Lab {number} ·") == 1, nav
            assert nav.count(f"Lab {number} solution:") == 1, nav
    finally:
        page.close()
