"""Shared fixtures: the baseline scenario and small variants of it (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from abm.scenario import Scenario, load_scenario
from helpers import BASELINE, CALIBRATION, SHIPPED_CALIBRATION, STANDIN_FILE, folder_digest, small


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    return load_scenario(BASELINE)


@pytest.fixture(scope="session")
def baseline_data() -> dict:
    """The baseline scenario file as plain YAML data (for writing variants to disk)."""
    return yaml.safe_load(BASELINE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def small_scenario(baseline) -> Scenario:
    """2,000 residents, 2011-2016."""
    return small(baseline)


@pytest.fixture
def small_scenario_file(tmp_path, baseline_data) -> Path:
    """A small scenario written to tmp_path: 2,000 residents, 2011-2014."""
    data = dict(baseline_data, name="small", end_year=2014)
    data["population"] = dict(data["population"], residents=2000)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def calibration_folder_untouched():
    """No test may write into the repository's calibration/ folder or the shipped calibration files
    it links to (tests use --out / folder=tmp_path)."""
    before = folder_digest(CALIBRATION) | folder_digest(SHIPPED_CALIBRATION)
    yield
    assert folder_digest(CALIBRATION) | folder_digest(SHIPPED_CALIBRATION) == before, "a test changed calibration files"


@pytest.fixture(scope="session")
def standin_survey() -> pd.DataFrame:
    """The shipped stand-in survey, read and checked against the codebook."""
    from abm.calibrate.survey import read_survey

    return read_survey(STANDIN_FILE)
