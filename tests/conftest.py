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
