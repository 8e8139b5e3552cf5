"""pension-abm: who joins China's urban-rural residents' basic pension, and at which grade."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abm.inputs.loader import load_scenario
    from abm.inputs.scenario import Scenario
    from abm.sim.model import PensionModel

__all__ = ["PensionModel", "Scenario", "load_scenario"]
__version__ = "0.1.0"
_LAZY = {"PensionModel": "abm.sim.model", "Scenario": "abm.inputs.scenario", "load_scenario": "abm.inputs.loader"}


def __getattr__(name: str):
    """The model on first use (``from abm import PensionModel``): the command line reads its arguments
    without importing Mesa, NumPy or pandas."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'abm' has no attribute {name!r}")
