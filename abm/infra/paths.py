"""Where the package's own files are: shipped scenarios, data and calibration, and a checkout's calibration folder."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = Path(str(resources.files("abm")))  # the installed package (a checkout's abm/ in development)
DATA_DIR = PACKAGE / "data"
SCENARIOS_DIR = PACKAGE / "scenarios"  # shipped scenarios, and sweeps/
DEFAULT_SCENARIO = SCENARIOS_DIR / "baseline.yaml"
CALIBRATION_DIR = PACKAGE / "calibration"  # fitted coefficients, targets, survey codebook and stand-in


def checkout_calibration() -> Path | None:
    """The repository's calibration folder (report, and links to the shipped files) when the package
    runs from a checkout; None when it is installed, where nothing may be written beside it."""
    root = PACKAGE.parent
    folder = root / "calibration"
    return folder if (root / "pyproject.toml").is_file() and folder.is_dir() else None
