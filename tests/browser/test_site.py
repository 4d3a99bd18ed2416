"""The built course site in a real browser: every chapter page shows its widgets' static
pictures (loaded, not broken) and offers its launch links; the root leads to the landing page."""

from __future__ import annotations

import shutil
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
