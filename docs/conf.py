"""Sphinx configuration of the course site: `make docs` builds it into build/docs.

The source directory is the repository root (`sphinx-build -c docs . build/docs`), so the
chapters are the notebooks themselves, their links to each other work as they do in
JupyterLab, and they run with `notebooks/` as their working directory. The notebooks are
executed during the build (myst-nb); widgets have no kernel on a web page, so their static
PNG picture is shown instead (every explorer puts one in its output). The CLI reference is
generated from the command line's own argparse parsers.

What the public site leaves out: the quiz answer key (`docs/quiz-answers.md` stays in the
repository, for instructors); a quiz shows its question and options only (its "Show the
answer" is a widget). The labs' solutions are published in a section of their own, each page
titled "Lab NN solution: ...". The notebooks run with MMLAB_SITE=1, so a "predict, then run"
cell prints the result without the "You did not write a guess" line (a reader of the site has
no cell to write in).
"""

from __future__ import annotations

import argparse
import io
import os
import re
from contextlib import redirect_stdout
from pathlib import Path

from docutils import nodes

project = "mmlab"
author = "mmlab authors"
copyright = "mmlab authors (MIT)"  # noqa: A001 - Sphinx's name

root_doc = "docs/index"
extensions = ["myst_nb", "sphinx.ext.autodoc"]
include_patterns = ["docs/*.md", "docs/_generated/*.md", "notebooks/*.ipynb", "notebooks/glossary.md",
                    "notebooks/review-sources.md",
                    "notebooks/labs/*.ipynb", "notebooks/labs/README.md",
                    "notebooks/labs/solutions/*.ipynb"]
# The quiz answer key is for instructors: kept in the repository, not published.
exclude_patterns = ["build", ".venv", "**/.ipynb_checkpoints", "docs/quiz-answers.md"]

# Run every chapter; a cell error fails the build, as a warning does (`-W`).
nb_execution_mode = "force"
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_execution_show_tb = True
# A widget needs a kernel: on a web page, show the explorer's static picture instead.
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", None),
    ("html", "application/vnd.jupyter.widget-state+json", None),
]
myst_enable_extensions = ["colon_fence"]
# Links to a section of a page (the instructor guide's "#timing-plans") need heading anchors.
myst_heading_anchors = 3
# The notebooks are executed for the site: mmlab.viz.quiz.compare_guess then prints the result
# alone, not "You did not write a guess". The kernels myst-nb starts inherit this environment.
os.environ["MMLAB_SITE"] = "1"
suppress_warnings = ["mystnb.unknown_mime_type"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}

html_theme = "sphinx_book_theme"
html_title = "mmlab: how a VMA, a page table and a page fault really work"
html_theme_options: dict[str, object] = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
}
# Launch buttons need the public repository's address: set MMLAB_REPOSITORY_URL (e.g.
# https://github.com/OWNER/mmlab) when building the published site, and MMLAB_LITE_URL to
# where the JupyterLite build is served.
_repository = os.environ.get("MMLAB_REPOSITORY_URL", "")
if _repository:
    html_theme_options.update({
        "repository_url": _repository,
        "repository_branch": os.environ.get("MMLAB_REPOSITORY_BRANCH", "main"),
        "launch_buttons": {
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
            "jupyterlite_url": os.environ.get("MMLAB_LITE_URL", "../lite/lab/index.html"),
        },
    })


def _cli_reference() -> str:
    """The `mmlab` command's help, every subcommand's too, as a markdown page."""
    from mmlab.cli import build_parser

    parser = build_parser()
    lines = ["# The `mmlab` command", "",
             "Made from the command's own help when the site is built.", ""]

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        buf = io.StringIO()
        with redirect_stdout(buf):
            p.print_help()
        lines.extend([f"## `{name}`", "", "```text", buf.getvalue().rstrip(), "```", ""])
        for action in p._actions:  # noqa: SLF001 - argparse keeps subparsers here
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")

    walk(parser, "mmlab")
    return "\n".join(lines)


def _api_reference() -> str:
    """One section per mmlab module, in the order of the module map."""
    import mmlab

    lines = ["# The `mmlab` library", "",
             "Every public function names the kernel function and file it models (Linux v4.15)"
             " and says where the model simplifies.", ""]
    for name in mmlab.SUBMODULES:
        if name in ("cli", "cramfs", "viz", "labs"):
            continue
        lines += [f"## `mmlab.{name}`", "", "```{eval-rst}", f".. automodule:: mmlab.{name}",
                  "   :members:", "```", ""]
    return "\n".join(lines)


def _launch_links() -> str:
    """Per chapter: the Binder, JupyterLite and JupyterHub (nbgitpuller) links of this build."""
    from mmlab.workshop import nbgitpuller_link

    repo = _repository or "https://github.com/OWNER/REPO"
    branch = os.environ.get("MMLAB_REPOSITORY_BRANCH", "main")
    hub = os.environ.get("MMLAB_HUB_URL", "https://HUB")
    slug = repo.removeprefix("https://github.com/").rstrip("/")
    lines = ["# Launch links", "",
             "The links each chapter page's launch buttons use, and the nbgitpuller link that",
             "opens the chapter on a JupyterHub with mmlab installed (see the",
             "[instructor guide](../instructor-guide.md)). This build used the repository",
             f"`{repo}`" + ("" if _repository else " (a template: set `MMLAB_REPOSITORY_URL`)")
             + f" and the hub `{hub}`" + ("" if os.environ.get("MMLAB_HUB_URL") else
                                           " (a template: set `MMLAB_HUB_URL`)") + ".", "",
             "| chapter | Binder | JupyterLite | JupyterHub |", "|---|---|---|---|"]
    for nb in sorted(Path(__file__).parent.parent.glob("notebooks/*.ipynb")):
        path = f"notebooks/{nb.name}"
        binder = f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/{path}"
        lite = f"../../lite/lab/index.html?path={path}"
        hub_link = nbgitpuller_link(hub, repo, branch, path)
        lines.append(f"| {nb.stem} | [Binder]({binder}) "  # a relative link, not a page:
                     f'| <a href="{lite}">JupyterLite</a> '  # raw HTML, so myst leaves it
                     f"| [JupyterHub]({hub_link}) |")
    return "\n".join(lines) + "\n"


def _root_redirect(app: object, exception: Exception | None) -> None:
    """The site's root page sends the reader to the landing page (docs/index.html)."""
    if exception is None and getattr(app, "builder", None) and app.builder.format == "html":
        Path(app.outdir, "index.html").write_text(
            '<!DOCTYPE html><meta charset="utf-8"><title>mmlab</title>'
            '<meta http-equiv="refresh" content="0; url=docs/index.html">'
            '<a href="docs/index.html">mmlab: the course</a>\n')


#: A lab's first heading, "Lab 01 · The copy-on-write rule of ...".
_LAB_TITLE = re.compile(r"^Lab (\d+) · ")


def _solution_titles(app: object, doctree: nodes.document) -> None:
    """A lab solution's page is titled "Lab 01 solution: ..." (its notebook keeps the lab's
    own heading, so that the exercise and its solution differ only in the work cell); run
    before Sphinx reads the title for the page list and the sidebar."""
    docname = app.env.docname  # type: ignore[attr-defined]
    if not docname.startswith("notebooks/labs/solutions/"):
        return
    for title in doctree.findall(nodes.title):
        first = title.children[0] if title.children else None
        if isinstance(first, nodes.Text) and _LAB_TITLE.match(first):
            title.replace(first, nodes.Text(_LAB_TITLE.sub(r"Lab \1 solution: ", first, 1)))
        return


#: An HTML anchor on a line of its own, as the glossary writes one before each entry.
_HTML_ANCHOR = re.compile(r'^<a id="([^"]+)"></a>$', re.MULTILINE)


def _anchors_as_targets(app: object, docname: str, source: list[str]) -> None:
    """A markdown page's ``<a id="x"></a>`` lines (the glossary's: JupyterLab and GitHub follow
    them) become MyST targets ``(x)=``, so that a chapter's link to ``glossary.md#x`` resolves
    on the site as well (MyST does not read HTML anchors)."""
    if str(app.env.doc2path(docname)).endswith(".md"):  # type: ignore[attr-defined]
        source[0] = _HTML_ANCHOR.sub(r"(\1)=", source[0])


def _wide_pictures(app: object, doctree: nodes.document) -> None:
    """A cell that shows an explorer's picture spans the page's margin too (the theme's
    full-width cell): the picture is drawn at its size in CSS pixels, 864 px for a 9-inch
    figure, wider than the text column, and scaled down it would set 7 pt labels in 7 px."""
    for cell in doctree.findall(nodes.container):
        if "cell" in cell["classes"] and any(
                'class="mmlab-picture"' in raw.astext() for raw in cell.findall(nodes.raw)):
            cell["classes"].append("tag_full-width")


def setup(app: object) -> None:
    """Write the generated pages before Sphinx reads the sources."""
    out = Path(__file__).parent / "_generated"
    out.mkdir(exist_ok=True)
    (out / "cli.md").write_text(_cli_reference())
    (out / "api.md").write_text(_api_reference())
    (out / "launch.md").write_text(_launch_links())
    app.connect("build-finished", _root_redirect)
    app.connect("doctree-read", _solution_titles, priority=400)  # before the title collector
    app.connect("doctree-read", _wide_pictures)
    app.connect("source-read", _anchors_as_targets)
