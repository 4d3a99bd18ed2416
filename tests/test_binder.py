"""The repository is a Binder repository: environment.yml and postBuild at the root, in step
with pyproject.toml, and repo2docker builds from them (checked with --no-build: no Docker)."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


#: conda-forge names of packages whose pip name differs
CONDA_NAMES = {"python-zlib-ng": "zlib-ng"}


def normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([^#]*)", requirement).groups()
    name = name.lower().replace("_", "-")
    return CONDA_NAMES.get(name, name), spec.replace(" ", "")


def test_environment_yml_pins_are_pyprojects():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pins = dict(normalise(d) for d in conda if not re.match(r"(python[=<>]|pip$)", d))
    assert pins == dict(normalise(d) for d in project["dependencies"])
    python = next(d for d in conda if d.startswith("python"))
    assert project["requires-python"] == ">=3.11" and python == "python=3.11"
    assert env["channels"] == ["conda-forge"]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert [p.split("#")[0].strip() for p in pip] == ["-e ."]  # mmlab itself


def test_repo2docker_builds_from_the_root_files():
    exe = shutil.which("jupyter-repo2docker", path=str(Path(sys.executable).parent))
    assert exe, "jupyter-repo2docker is a dev dependency"
    out = subprocess.run([exe, "--no-build", "--debug", str(ROOT)], capture_output=True,
                         text=True, timeout=300, check=True)
    dockerfile = out.stdout + out.stderr
    assert re.search(r'env update -p \$\{NB_PYTHON_PREFIX\} --file "environment.yml"', dockerfile)
    assert "RUN ./postBuild" in dockerfile
    assert not (ROOT / "binder").exists()  # a binder/ folder would hide the root files


def test_postbuild_installs_the_lab_settings():
    script = (ROOT / "postBuild").read_text()
    assert "lab-settings/overrides.json" in script and (ROOT / "postBuild").stat().st_mode & 0o111
