"""pension-abm: who joins China's urban-rural residents' basic pension, and at which grade."""

from abm.model import PensionModel
from abm.scenario import Scenario, load_scenario

__all__ = ["PensionModel", "Scenario", "load_scenario"]
__version__ = "0.1.0"
