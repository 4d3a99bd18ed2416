"""`make docs` builds the course site with no warning, every chapter with its pictures."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture
def site(built_site):
    return built_site


def test_the_root_sends_readers_to_the_landing_page(site):
    assert 'url=docs/index.html' in (site / "index.html").read_text()
    landing = (site / "docs" / "index.html").read_text()
    for nb in CHAPTERS:
        assert f"notebooks/{nb.stem}.html" in landing, nb.name


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_page_has_its_outputs_and_widget_pictures(site, nb):
    page = (site / "notebooks" / f"{nb.stem}.html").read_text()
    assert "application/vnd.jupyter.widget-view+json" not in page  # no dead widget views
    pictures = re.findall(r'<img [^>]*src="(?:data:image/png;base64,|[^"]*_images/)[^>]*>', page)
    assert pictures, "no picture on the page"
    explorers = [p for p in pictures if "data:image/png" in p]
    assert all(re.search(r'alt="[^"]{10,}"', p) for p in explorers), \
        "a picture of an explorer without its text alternative"
    assert "Traceback" not in page


def test_the_reference_pages_are_there(site):
    api = (site / "docs" / "_generated" / "api.html").read_text()
    assert "mmlab.xip.cramfs_physmem_mmap" in api and "elixir.bootlin.com" in api
    cli = (site / "docs" / "_generated" / "cli.html").read_text()
    assert "mmlab cramfs extract" in cli


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_page_has_binder_and_jupyterlite_buttons(site, nb):
    page = (site / "notebooks" / f"{nb.stem}.html").read_text()
    binder = ("https://mybinder.org/v2/gh/example/mmlab/main"
              f"?urlpath=lab/tree/notebooks/{nb.stem}.ipynb")
    assert binder in page
    assert f"../lite/lab/index.html?path=notebooks/{nb.stem}.ipynb" in page
    assert (site / "lite" / "files" / "notebooks" / nb.name).exists()


def test_the_launch_links_page_has_every_chapters_three_links(site):
    page = (site / "docs" / "_generated" / "launch.html").read_text()
    for nb in CHAPTERS:
        assert f"mybinder.org/v2/gh/example/mmlab/main?urlpath=lab/tree/notebooks/{nb.name}" in page
        assert f"lite/lab/index.html?path=notebooks/{nb.name}" in page
    assert "hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fexample%2Fmmlab" in page
