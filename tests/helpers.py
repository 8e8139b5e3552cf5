"""Helpers for the tests: repository paths, scenario variants, hand-made populations and policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abm.inputs.scenario import Scenario
from abm.sim.policy import policy_for_year
from abm.sim.population import COLUMNS, Population

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"
DATA_DIR = REPO_ROOT / "abm" / "data"
COUNTY_FILE = DATA_DIR / "counties" / "qi_county.yaml"
LIFE_TABLE_FILE = DATA_DIR / "life_table_rural.csv"


def when(key) -> tuple[int, int]:
    """(year, month) of a dated key: a year (from January) or 'YYYY-MM'."""
    text = str(key)
    return int(text[:4]), int(text[5:]) if "-" in text else 1


def latest(dated: dict, year: int, month: int = 12):
    """The latest dated value at or before ``month`` of ``year`` (an independent re-statement of the
    rule); keys are years (from January) or 'YYYY-MM'."""
    return dated[max((k for k in dated if when(k) <= (year, month)), key=when)]


def with_policy(scenario: Scenario, **fields) -> Scenario:
    """The scenario with some policy fields replaced."""
    return scenario.model_copy(update={"policy": scenario.policy.model_copy(update=fields)})


def with_population(scenario: Scenario, **fields) -> Scenario:
    """The scenario with some population fields replaced."""
    return scenario.model_copy(update={"population": scenario.population.model_copy(update=fields)})


def small(scenario: Scenario, residents: int = 2000, end_year: int = 2016, **fields) -> Scenario:
    """A fast variant: few residents and a short horizon."""
    return with_population(scenario, residents=residents).model_copy(update={"end_year": end_year, **fields})


def year_policy(scenario: Scenario, year: int, basic_pension: float | None = None):
    """The resolved policy of ``year`` with the dated (unindexed) basic pension, the grades of a
    revision year moved with the run's economy."""
    from abm.inputs.county import load_county
    from abm.sim.model import run_economy

    bp = latest(scenario.policy.basic_pension, year) if basic_pension is None else basic_pension
    return policy_for_year(scenario.policy, year, bp, run_economy(scenario, load_county(scenario)))


def make_population(n: int, weight: float = 1.0, **columns) -> Population:
    """A hand-made population of ``n`` residents: ids 0..n-1, working-age defaults, overrides by column."""
    data = {name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()}
    data["id"] = np.arange(n)
    data["age"][:] = 40
    data["income"][:] = 10_000.0
    data["school_until"][:] = 16
    data["choice"][:] = -1
    for name, values in columns.items():
        data[name] = np.broadcast_to(np.asarray(values), (n,)).astype(COLUMNS[name])
    return Population(data, weight=weight, under_16=np.zeros(16))


# --- calibration ---------------------------------------------------------------------------------
CALIBRATION = REPO_ROOT / "calibration"  # report; fitted/, survey/, targets.yaml link into:
SHIPPED_CALIBRATION = REPO_ROOT / "abm" / "calibration"
STANDIN_FILE = CALIBRATION / "survey" / "qi_county_standin.csv"
CODEBOOK_FILE = CALIBRATION / "survey" / "codebook.yaml"
TARGETS_FILE = CALIBRATION / "targets.yaml"
FITTED_FILE = CALIBRATION / "fitted" / "coefficients.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sha256(path: Path) -> str:
    """Hex digest of a file's bytes (computed here, not with the package's helper)."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) with its sha256."""
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def invoke(*args):
    """The pension-abm command line, in-process."""
    from typer.testing import CliRunner

    from abm.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    """Output without whitespace: long paths and messages may be wrapped by the console."""
    import re

    return re.sub(r"\s+", "", text)


class TwoValleys:
    """A stand-in for the calibration's loss in logistic units (picklable, so worker processes can
    evaluate it): two valleys, at z0 = -1 (loss 0.3) and z0 = 2 (loss 0)."""

    def values(self, z) -> dict[str, float]:
        return {"z0": float(z[0])}

    def loss(self, z) -> float:
        rest = float(np.sum(np.asarray(z[1:]) ** 2))
        return min((z[0] + 1) ** 2 + 0.3, (z[0] - 2) ** 2) + rest
