"""Every chapter in JupyterLab in a real browser: Run All, no error, and the widgets answer.

JupyterLab runs on a free port with a token, on a copy of the notebooks (so nothing is saved
back), with the settings `make lab` installs (no news pop-up). Debian's Chromium, driven by
Playwright (which cannot download its own browser here), opens each chapter, runs all cells,
checks that no cell is still running and no output is an error, then moves one control of each
kind the chapter has (toggle buttons, dropdown, slider, button) and checks that a picture or a
text it drives changed. Screenshots go to test-artifacts/browser/.
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

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
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
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_runs_and_its_widgets_answer(lab, path):
    browser, url, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        # a workspace of its own, reset: only this chapter is open
        page.goto(f"{url}/lab/workspaces/{path.stem}/tree/{path.name}?token={token}&reset")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        time.sleep(1)
        accept_kernel_dialog(page)
        wait_idle(page)
        assert page.locator("text=Would you like to get notified").count() == 0  # no pop-up
        run_all(page)
        wait_idle(page)
        errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"))
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
            output.screenshot(path=str(ARTIFACTS / f"{path.stem}-{kind}.png"))
        assert moved, "no widget control found in the chapter"
        assert page.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{path.stem}-failure.png"))
        raise
    finally:
        page.close()
