"""Shared fixtures: the baseline scenario and small variants of it (helpers live in helpers.py); the
session's checks that no test changes the calibration or leaves files outside its temporary folders."""

from __future__ import annotations

import re
import socket
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from abm.infra.processes import alive
from abm.inputs.loader import load_scenario
from abm.inputs.scenario import Scenario
from helpers import BASELINE, CALIBRATION, REPO_ROOT, SHIPPED_CALIBRATION, STANDIN_FILE, folder_digest, small

SYSTEM_TEMP = Path(tempfile.gettempdir())
RESULTS = REPO_ROOT / "results"
RUNNING = re.compile(r"\.partial-(?P<host>.+)-(?P<pid>\d+)$")  # abm.infra.atomic's temporary names


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


def pytest_collection_modifyitems(items):
    """The files with the most tests marked slow or browser first, the order within a file kept: under
    pytest-xdist (make test: ``--dist loadfile``, a file on one worker, so that its module fixtures are
    computed once) the long files start early and the short ones fill the end, so that no worker
    starts a long file when the other is about to finish."""
    heavy = Counter(
        item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("browser")
    )
    items.sort(key=lambda item: -heavy[item.path])  # stable: files stay whole and in order


def temporary_entries() -> set[Path]:
    """pension-abm's files and folders in the system's temporary directory, but for those of a process
    still running (a page another test, or another worker, is serving)."""
    entries = set()
    for path in SYSTEM_TEMP.glob("*pension-abm*"):
        named = RUNNING.search(path.name)
        if not (named and named["host"] == socket.gethostname() and alive(int(named["pid"]))):
            entries.add(path)
    return entries


def results_files() -> set[Path]:
    return {path for path in RESULTS.rglob("*") if not path.is_dir()}


@pytest.fixture(scope="session", autouse=True)
def nothing_left_outside_temporary_folders():
    """No test leaves files outside its temporary folders: nothing new of pension-abm's in the system's
    temporary directory (a test gives the commands it starts a TMPDIR inside its tmp_path) and no new
    file in the repository's results/ folder (tests write to tmp_path)."""
    temporary, results = temporary_entries(), results_files()
    yield
    left = sorted(map(str, temporary_entries() - temporary)) + sorted(map(str, results_files() - results))
    assert not left, f"the tests left files outside their temporary folders: {left}"


@pytest.fixture(scope="session")
def standin_survey() -> pd.DataFrame:
    """The shipped stand-in survey, read and checked against the codebook."""
    from abm.analysis.fitting.survey import read_survey

    return read_survey(STANDIN_FILE)
