"""The C allocator keeps what a run frees: the settings take on Linux (glibc), once per process."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_settings_take_once_in_a_fresh_process():
    code = (
        "from abm.infra import allocator\n"
        "assert allocator._kept is None\n"
        "first = allocator.keep_freed_memory()\n"
        "print(first, allocator.keep_freed_memory(), allocator._kept)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True"]


def test_building_a_model_asks_for_them(small_scenario):
    from abm.infra import allocator
    from abm.sim.model import PensionModel

    PensionModel(scenario=small_scenario)
    assert allocator._kept is sys.platform.startswith("linux")
