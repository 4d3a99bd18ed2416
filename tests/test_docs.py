"""`make docs` builds the course site with no warning, every chapter with its pictures."""

import base64
import html
import re
from pathlib import Path

import pytest

from mmlab.viz.base import STATIC_DPI
from mmlab.viz.quiz import compare_guess, quiz_bank

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


# --- what the public site leaves out, and how it shows the rest (issue 19) ----------------------
def _text(page: str) -> str:
    """A page's words as a reader sees them: tags out, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_no_quiz_answer_is_published(site):
    """The answer key stays in the repository (for instructors); a quiz's page shows its
    question and options, and no page holds any quiz's explanation."""
    assert (ROOT / "docs" / "quiz-answers.md").exists()
    assert not list(site.rglob("quiz-answers*")), "the answer key is on the site"
    bank = quiz_bank()
    assert bank
    for path in sorted(site.rglob("*.html")):
        if "lite" in path.relative_to(site).parts:
            continue
        page = path.read_text()
        words = _text(page)
        for quiz in bank.values():
            why = " ".join(quiz.why.split())
            assert why not in words and why not in " ".join(html.unescape(page).split()), \
                f"{path.relative_to(site)} explains {quiz.name}"
    chapter = _text((site / "notebooks" / "01-address-spaces.html").read_text())
    shown = [q for name, q in bank.items() if name.startswith("ch01/")]
    for quiz in shown:
        assert " ".join(quiz.question.split()) in chapter
        assert all(" ".join(o.split()) in chapter for o in quiz.options)


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_predict_cells_show_the_result_without_the_no_guess_line(site, nb):
    page = _text((site / "notebooks" / f"{nb.stem}.html").read_text())
    assert "did not write a guess" not in page
    asked = "compare_guess(" in nb.read_text()
    assert ("Result: " in page) == asked


def test_compare_guess_gives_the_result_alone_where_the_site_runs_it(monkeypatch):
    monkeypatch.delenv("MMLAB_SITE", raising=False)
    assert "did not write a guess" in compare_guess(..., 3, "the count")
    monkeypatch.setenv("MMLAB_SITE", "1")
    assert compare_guess(..., 0x8000, "vma.vm_pgoff") == "Result: vma.vm_pgoff is 0x8000."
    assert compare_guess(3, 3, "the count").startswith("Your guess 3 is right")  # still judged
    monkeypatch.setenv("MMLAB_SITE", "0")
    assert "did not write a guess" in compare_guess(..., 3, "the count")


def test_lab_solutions_have_their_own_section_and_titles(site):
    landing = (site / "docs" / "index.html").read_text()
    main = _text(landing[landing.index("<main"):])
    assert "Lab solutions" in main
    for lab in sorted((ROOT / "notebooks" / "labs").glob("*.ipynb")):
        number = lab.name[:2]
        page = (site / "notebooks" / "labs" / "solutions" / f"{lab.stem}.html").read_text()
        title = html.unescape(re.search(r"<title>(.*?)</title>", page, re.S).group(1))
        assert title.startswith(f"Lab {number} solution: "), title
        assert re.search(rf"<h1>Lab {number} solution: ", page)
        exercise = (site / "notebooks" / "labs" / f"{lab.stem}.html").read_text()
        assert re.search(r"<title>(.*?)</title>", exercise, re.S).group(1).startswith(
            f"Lab {number} · ")
        assert main.count(f"Lab {number} · ") == 1 and main.count(f"Lab {number} solution:") == 1


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_explorer_pictures_are_drawn_at_twice_the_resolution_and_full_width(site, nb):
    page = (site / "notebooks" / f"{nb.stem}.html").read_text()
    figures = re.findall(r'<figure class="mmlab-picture".*?</figure>', page, re.S)
    for figure in figures:
        data = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", figure).group(1))
        width_px = int.from_bytes(data[16:20], "big")
        css = int(re.search(r'<img [^>]*width="(\d+)"', figure).group(1))
        assert css == round(width_px * 96 / STATIC_DPI), "shown at the figure's size in inches"
        assert "max-width:100%" in figure
    cells = [c for c in page.split('<div class="cell ')[1:] if 'class="mmlab-picture"' in c]
    assert len(cells) == len(figures)
    assert all("tag_full-width" in c[:c.index('">')] for c in cells), "a picture in the column"


def test_glossary_links_land_on_an_entry_of_the_sites_glossary(site):
    """The glossary marks its entries with HTML anchors (JupyterLab follows them); conf.py
    makes them targets on the site, so each chapter's link lands on its entry there too."""
    glossary = (site / "notebooks" / "glossary.html").read_text()
    linked = 0
    for nb in CHAPTERS:
        page = (site / "notebooks" / f"{nb.stem}.html").read_text()
        for anchor in re.findall(r'href="glossary\.html#([^"]+)"', page):
            assert f'id="{anchor}"' in glossary, f"{nb.stem} links glossary#{anchor}"
            linked += 1
    assert linked, "no chapter links the glossary"
