"""Every chapter and lab in JupyterLab in a real browser: what the learner sees is right.

JupyterLab runs on a free port with a token, on a copy of the notebooks (so nothing is saved
back), with the settings `make lab` installs (no news pop-up). Debian's Chromium, driven by
Playwright (which cannot download its own browser here), opens each chapter and lab at 1280 px
wide and checks that opening it changes nothing (its stored metadata is what JupyterLab
writes), runs all cells, checks that no cell is still running and no output is an error, then
moves one control of each kind the notebook has (toggle buttons, dropdown, slider, button) and
checks that a picture or a text it drives changed.

What the learner sees is read in the browser, not only that it moved: after Run All and after
each move, every widget picture (an SVG in an <img>) is laid out by Chromium and checked by
tests/browser/svgcheck.py (no overlapping labels, no spaces the browser collapses, no label off
its box, no label cut off, no kind missing from its legend), and every quiz's options are
measured (each radio button beside its own label, no option over the next). Screenshots go to
test-artifacts/browser/.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time

import pytest

playwright = pytest.importorskip("playwright.sync_api")

from tests.browser.svgcheck import svg_problems_many  # noqa: E402 - after the importorskip

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "notebooks" / "labs").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.browser

# What a learner can move, and how to move it (CSS selector, action).
CONTROLS = (
    ("toggle buttons", ".widget-toggle-buttons button:not(.mod-active)", "click"),
    ("dropdown", ".widget-dropdown select", "select"),
    ("slider", ".widget-slider .noUi-handle, .widget-slider .ui-slider-handle", "key"),
    ("button", ".jupyter-widgets button.jupyter-button:not(.mod-active)", "click"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    (home / "data").symlink_to(ROOT / "data")
    port, token = free_port(), secrets.token_hex(16)
    # every cell in the page, not only those in view (JupyterLab draws a long notebook in
    # windows): the test reads every picture of the notebook, as a learner scrolling would
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"))
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={home / 'notebooks'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.terminate()
        pytest.fail("JupyterLab did not start: " + (home / "server.log").read_text()[-2000:])
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser, f"http://127.0.0.1:{port}", token
        browser.close()
    server.terminate()
    server.wait(timeout=30)
    log.close()


def wait_idle(page, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
        busy = page.locator(".jp-InputArea-prompt:has-text('[*]')").count()
        if idle and not busy:
            return
        time.sleep(0.3)
    raise AssertionError("the notebook was still running after the timeout")


def accept_kernel_dialog(page) -> None:
    """JupyterLab sometimes asks which kernel to start (e.g. when the first start was slow):
    answer as a learner would, with the notebook's own kernel."""
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
    if dialog.count():
        dialog.locator("button.jp-mod-accept").click()
        dialog.wait_for(state="detached", timeout=10_000)


def run_all(page, attempts: int = 4) -> None:
    """Run > Run All Cells, as a learner does; again if the kernel was not ready to take it."""
    for _ in range(attempts):
        accept_kernel_dialog(page)
        page.locator(".jp-Notebook:visible").first.click(position={"x": 5, "y": 5})  # focus
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) "
                            ".lm-Menu-itemLabel:text-is('Run All Cells')")
        item.wait_for(timeout=10_000)
        item.click()
        try:
            page.wait_for_selector(".jp-InputArea-prompt:has-text('[1]')", timeout=15_000)
            return
        except playwright.TimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells never started the notebook")


def driven_state(page) -> list[str]:
    """Everything a control can change: widget pictures and widget texts."""
    images = page.locator(".jp-OutputArea .widget-image")
    texts = page.locator(".jp-OutputArea .widget-html-content")
    return ([images.nth(i).get_attribute("src") or "" for i in range(images.count())]
            + [texts.nth(i).inner_html() for i in range(texts.count())])


def widget_svgs(page) -> list[str]:
    """The SVG behind every widget picture on the page (ipywidgets shows an Image widget's
    bytes through a blob: URL, which the page can fetch back)."""
    texts = page.locator(".jp-OutputArea .widget-image").evaluate_all(
        """async imgs => Promise.all(imgs.map(async i => {
             try { return await (await fetch(i.src)).text(); } catch (e) { return ''; }
           }))""")
    svgs = [t for t in texts if "<svg" in t[:2000]]
    assert len(svgs) == len(texts), "a widget picture that is not an SVG, or could not be read"
    return svgs


def picture_problems(page, when: str) -> list[str]:
    """What Chromium finds wrong with each widget picture on the page (see svgcheck)."""
    found = []
    svgs = widget_svgs(page)
    for index, problems in enumerate(svg_problems_many(page, svgs)):
        found += [f"{when}, picture {index + 1}: {p}" for p in problems]
    return found


#: Each quiz option measured as laid out: its radio button inside its own label, level with
#: the label's first line and left of its text; the label inside the quiz; no label over the
#: next one.
_QUIZ_LAYOUT = """() => {
  const out = [];
  document.querySelectorAll('.mmlab-quiz').forEach((quiz, q) => {
    const box = quiz.getBoundingClientRect();
    const labels = [...quiz.querySelectorAll('.widget-radio-box label')];
    let previousBottom = -1e9;
    labels.forEach((label, i) => {
      const lr = label.getBoundingClientRect();
      const input = label.querySelector('input');
      const ir = input ? input.getBoundingClientRect() : null;
      const range = document.createRange();
      range.selectNodeContents(label);
      const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
      const where = `quiz ${q + 1}, option ${i + 1} ("${label.textContent.trim().slice(0, 40)}")`;
      if (!ir || ir.width === 0) { out.push(`${where}: no radio button`); return; }
      const same = (a, b) => Math.abs(a - b) < 1;
      const text = rects.filter(r => !(same(r.left, ir.left) && same(r.top, ir.top)
                                       && same(r.width, ir.width)));
      if (ir.left < lr.left - 1 || ir.right > lr.right + 1 || ir.top < lr.top - 1
          || ir.bottom > lr.bottom + 1) out.push(`${where}: radio button outside its label`);
      if (!text.length) out.push(`${where}: no text`);
      if (text.some(r => r.left < ir.right - 1))
        out.push(`${where}: radio button not left of its text`);
      if (text.length && (ir.top > text[0].bottom || ir.bottom < text[0].top))
        out.push(`${where}: radio button not level with its first line`);
      if (text.some(r => r.right > box.right + 1)) out.push(`${where}: text runs out of the quiz`);
      const bottom = Math.max(lr.bottom, ...text.map(r => r.bottom));
      if (lr.top < previousBottom - 1) out.push(`${where}: overlaps the option above`);
      previousBottom = bottom;
    });
  });
  return out;
}"""


def move(page, selector: str, action: str) -> bool:
    control = page.locator(selector).first
    control.scroll_into_view_if_needed()
    if action == "click":
        control.click()
    elif action == "select":
        options = control.locator("option")
        current = control.input_value()
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        others = [v for v in values if v != current]
        if not others:
            return False
        control.select_option(others[0])
    else:
        control.focus()
        control.press("ArrowRight")
    return True


def notebook_id(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT / "notebooks"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_chapter_runs_and_shows_right_pictures_and_quizzes(lab, path):
    browser, url, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = notebook_id(path)
    shot = name.removesuffix(".ipynb").replace("/", "-")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # a workspace of its own, reset: only this notebook is open
        page.goto(f"{url}/lab/workspaces/{shot}/tree/{name}?token={token}&reset")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        time.sleep(1)
        accept_kernel_dialog(page)
        wait_idle(page)
        assert page.locator("text=Would you like to get notified").count() == 0  # no pop-up
        # opening it changed nothing: JupyterLab wrote no metadata of its own into it
        assert page.locator(".jp-mod-current.jp-mod-dirty, .lm-TabBar-tab.jp-mod-dirty") \
            .count() == 0, "opening the notebook changed it (its stored metadata is incomplete)"
        run_all(page)
        wait_idle(page)
        errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
        problems = picture_problems(page, "after Run All")
        quizzes = page.evaluate(_QUIZ_LAYOUT)
        for index in range(page.locator(".mmlab-quiz").count()):
            quiz = page.locator(".mmlab-quiz").nth(index)
            quiz.scroll_into_view_if_needed()
            quiz.screenshot(path=str(ARTIFACTS / f"{shot}-quiz{index + 1}.png"))
        moved = []
        for kind, selector, action in CONTROLS:
            if page.locator(selector).count() == 0:
                continue
            before = driven_state(page)
            if not move(page, selector, action):
                continue
            deadline = time.monotonic() + 5
            while driven_state(page) == before and time.monotonic() < deadline:
                time.sleep(0.1)
            assert driven_state(page) != before, f"moving the first {kind} changed nothing"
            moved.append(kind)
            output = page.locator(".jp-OutputArea-output:has(" + selector + ")").first
            output.screenshot(path=str(ARTIFACTS / f"{shot}-{kind}.png"))
            problems += picture_problems(page, f"after moving the first {kind}")
        assert moved, "no widget control found in the notebook"
        assert page.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0
        assert not problems, "pictures read wrong in the browser:\n" + "\n".join(problems)
        assert not quizzes, "quiz options read wrong at 1280 px:\n" + "\n".join(quizzes)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{shot}-failure.png"), full_page=True)
        raise
    finally:
        page.close()
