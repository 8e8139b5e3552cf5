"""Helpers for the tests: repository paths, scenario variants, hand-made populations and policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abm.policy import policy_for_year
from abm.population import COLUMNS, Population
from abm.scenario import Scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"
DATA_DIR = REPO_ROOT / "abm" / "data"
COUNTY_FILE = DATA_DIR / "counties" / "qi_county.yaml"
LIFE_TABLE_FILE = DATA_DIR / "life_table_rural.csv"


def latest(dated: dict, year: int):
    """The latest dated value at or before ``year`` (an independent re-statement of the rule)."""
    return dated[max(y for y in dated if y <= year)]


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
    """The resolved policy of ``year`` with the dated (unindexed) basic pension."""
    bp = latest(scenario.policy.basic_pension, year) if basic_pension is None else basic_pension
    return policy_for_year(scenario.policy, year, bp)


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
