"""pension-abm: who joins China's urban-rural residents' basic pension, and at which grade."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abm.model import PensionModel
    from abm.scenario import Scenario, load_scenario

__all__ = ["PensionModel", "Scenario", "load_scenario"]
__version__ = "0.1.0"
_LAZY = {"PensionModel": "abm.model", "Scenario": "abm.scenario", "load_scenario": "abm.scenario"}


def __getattr__(name: str):
    """The model on first use (``from abm import PensionModel``): the command line reads its arguments
    without importing Mesa, NumPy or pandas."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'abm' has no attribute {name!r}")
