"""The course in the browser only: a JupyterLite build with mmlab served through piplite.

``python -m mmlab.lite OUT`` (run by ``make docs`` into ``build/docs/lite``) builds a
JupyterLite site whose Pyodide kernel installs mmlab from a wheel built from this checkout
(and construct from its own wheel), with the chapters and labs as its files and ``data/``
next to them, as in the repository.

Each notebook is copied with two changes (:func:`lite_notebook`): its kernel is the one Lite
offers (``python``, Pyodide), and a first cell installs mmlab in the browser tab. Cells that
compare with a running Linux kernel already fall back to stored runs there
(:func:`mmlab.live.available` is false). The Pyodide runtime itself comes from its CDN when a
learner opens the site, so only the build can be tested here, not a session.

Model helper: no kernel counterpart (course tooling).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import MappingProxyType

import nbformat
from nbformat.v4 import new_code_cell

__all__ = ["INSTALL_CELL", "LITE_KERNEL", "build_lite", "lite_notebook", "main"]

#: The kernel JupyterLite's Pyodide kernel registers.
LITE_KERNEL = MappingProxyType(
    {"name": "python", "display_name": "Python (Pyodide)", "language": "python"})

#: The first cell of every notebook in the Lite site: install mmlab in this browser tab.
INSTALL_CELL = """\
# JupyterLite: install mmlab in this browser tab (takes a few seconds, once per tab)
import piplite
await piplite.install(["construct", "ipywidgets", "matplotlib"])
await piplite.install("mmlab", deps=False)  # its JupyterLab requirement is this page itself"""


def lite_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` for JupyterLite: the Pyodide kernel, the install cell first.

    Model helper: no kernel counterpart.
    """
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    out.metadata["kernelspec"] = dict(LITE_KERNEL)
    out.cells.insert(0, new_code_cell(INSTALL_CELL, metadata={"tags": ["lite-install"]}))
    return out


def _wheel(args: list[str], dest: Path) -> Path:
    before = set(dest.glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest),
                    *args], check=True)
    (new,) = set(dest.glob("*.whl")) - before
    return new


def build_lite(out: Path | str, root: Path | str = ".") -> Path:
    """Build the Lite site into ``out`` from the checkout at ``root``; returns ``out``.

    Model helper: no kernel counterpart.
    """
    import construct

    root, out = Path(root).resolve(), Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="mmlab-lite-") as tmp:
        stage = Path(tmp)
        wheels = stage / "wheels"
        wheels.mkdir()
        mmlab_wheel = _wheel([str(root)], wheels)
        construct_wheel = _wheel([f"construct=={construct.__version__}"], wheels)
        content = stage / "content"
        for nb_path in sorted((root / "notebooks").rglob("*.ipynb")):
            if ".ipynb_checkpoints" in nb_path.parts:
                continue
            dest = content / nb_path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(lite_notebook(nbformat.read(nb_path, as_version=4)), dest)
        for md in (root / "notebooks").rglob("*.md"):
            shutil.copy2(md, content / md.relative_to(root))
        shutil.copytree(root / "data", content / "data")
        if out.exists():
            shutil.rmtree(out)
        subprocess.run([str(Path(sys.executable).parent / "jupyter"), "lite", "build",
                        "--contents", str(content), "--piplite-wheels", str(mmlab_wheel),
                        "--piplite-wheels", str(construct_wheel), "--output-dir", str(out),
                        "--lite-dir", str(stage)],
                       check=True, cwd=stage, capture_output=True, text=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m mmlab.lite [OUT]`` (default ``build/docs/lite``).

    Model helper: no kernel counterpart.
    """
    parser = argparse.ArgumentParser(prog="python -m mmlab.lite",
                                     description="Build the course as a JupyterLite site.")
    parser.add_argument("out", nargs="?", default="build/docs/lite")
    args = parser.parse_args(argv)
    site = build_lite(args.out)
    print(f"JupyterLite site in {site} (open {site}/lab/index.html through a web server)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
