"""Shared pytest set-up: hypothesis profiles, and a fresh model machine for every test.

`make test` uses the fast profile; `make test-long` sets MMLAB_PROFILE=long for the
big runs (10,000 mm sequences, 100,000 fuzzed cramfs images).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from mmlab import system

settings.register_profile(
    "fast",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("MMLAB_PROFILE", "fast")
settings.load_profile(PROFILE)


@pytest.fixture(autouse=True)
def fresh_machine():
    """Each test starts on a new default System: no counters, logs or pages left by others."""
    previous = system.set_default_system(system.System())
    yield
    system.set_default_system(previous)


#: The repository address the test build of the site uses for its launch buttons (the
#: published site sets the real one in MMLAB_REPOSITORY_URL).
TEST_REPOSITORY = "https://github.com/example/mmlab"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The course site as `make docs` builds it (Sphinx with -W, then JupyterLite in lite/),
    with launch buttons for TEST_REPOSITORY."""
    import subprocess
    import sys
    from pathlib import Path

    from mmlab.lite import build_lite

    root = Path(__file__).resolve().parent.parent
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, MMLAB_REPOSITORY_URL=TEST_REPOSITORY)
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-c", "docs",
                    "-b", "html", ".", str(out)], cwd=root, env=env, check=True, timeout=900,
                   capture_output=True, text=True)
    build_lite(out / "lite", root)
    return out
