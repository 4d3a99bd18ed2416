"""The JupyterLite build: the notebooks with Lite's kernel and an install cell, mmlab and
construct served through piplite, data/ beside the notebooks; and the wheel it serves imports
and runs in a plain Python (Pyodide itself comes from its CDN at run time: not testable here)."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from mmlab.lite import INSTALL_CELL, LITE_KERNEL, build_lite, lite_notebook

ROOT = Path(__file__).resolve().parent.parent


def test_lite_notebook_has_lites_kernel_and_installs_mmlab_first():
    nb = nbformat.read(ROOT / "notebooks" / "00-welcome.ipynb", as_version=4)
    lite = lite_notebook(nb)
    assert lite.metadata["kernelspec"] == LITE_KERNEL
    assert lite.cells[0].source == INSTALL_CELL and "piplite" in INSTALL_CELL
    assert lite.cells[1:] == nb.cells and nb.metadata["kernelspec"]["name"] == "python3"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_lite(tmp_path_factory.mktemp("lite") / "site", ROOT)


def test_the_site_lists_every_notebook_and_the_data(site):
    index = json.loads((site / "api" / "contents" / "notebooks" / "all.json").read_text())
    names = {item["name"] for item in index["content"]}
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert nb.name in names
    served = nbformat.read(site / "files" / "notebooks" / "07-fault-time-split.ipynb", 4)
    assert served.metadata["kernelspec"]["name"] == "python"
    assert (site / "files" / "data" / "kernel-captures" / "xip-scenarios.json").exists()
    assert (site / "files" / "notebooks" / "labs" / "01-remap-cow-rule.ipynb").exists()


def test_piplite_serves_mmlab_and_construct(site):
    pypi = next(site.rglob("pypi/all.json"))
    assert {"mmlab", "construct"} <= set(json.loads(pypi.read_text()))


def test_the_served_wheel_imports_and_runs_in_a_plain_python(site, tmp_path):
    wheel = next(site.rglob("mmlab-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "wheel")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import mmlab, mmlab.xip, mmlab.scenarios;"
        "assert mmlab.__file__.startswith(sys.argv[1]), mmlab.__file__;"
        "run = mmlab.scenarios.run_scenario('libc-past-xip', 'split');"
        "print(run.ram.flash, run.ram.page_cache)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "wheel")],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["3", "2"]
