"""A search's problem: policies (coded lever values) turned into scenarios, run over the fixed set of
uncertain scenarios with the same seeds for every policy, and scored (objectives, constraints).

A policy is scored on every uncertain scenario (scenario 0: the base as written; then those sampled
once by Latin hypercube from the uncertainties) and every replication seed, the seeds and the
behaviour coefficients each replication draws (abm/analysis/uncertainty.py) shared by all policies (common
random numbers). Each run gives one number per measure (a statistic over years); the measure is the
mean or a quantile of these numbers over all runs. Evaluation runs in worker processes (a local pool
or Dask), so it takes only picklable inputs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from abm.analysis.search.spec import Measure, Search
from abm.inputs.datafiles import dump
from abm.inputs.scenario import replication_seeds

BASE_KEY = "base"  # the base scenario's own policy (no lever set), evaluated as a reference


@dataclass(frozen=True)
class Problem:
    """What a worker needs to score policies.

    Args:
        search: the checked search file.
        base: the base scenario's file (None for a test problem).
        scenarios: per uncertain scenario, the overrides (path, value) it adds to the base (the first: none).
        seeds: the replication seeds of the final stage; the search runs the first ``search.replications``.
    """

    search: Search
    base: str | None
    scenarios: tuple[tuple[tuple[str, Any], ...], ...]
    seeds: tuple[int, ...]


def make_problem(search: Search) -> Problem:
    base = str(search.base_path().resolve()) if search.base is not None else None
    overrides = [
        tuple((u.field, value) for u, value in zip(search.uncertainties, row)) for row in uncertain_values(search)
    ]
    return Problem(
        search, base, ((), *tuple(overrides)), tuple(replication_seeds(search.seed, search.final_replications))
    )


def uncertain_values(search: Search) -> list[list[float | int]]:
    """The sampled scenarios' values of the uncertain fields: a Latin hypercube of ``scenarios`` points
    drawn once from the search's seed."""
    if not search.scenarios:
        return []
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(search.uncertainties), seed=np.random.default_rng([search.seed, 20])).random(
        search.scenarios
    )
    return [[u.value(float(x)) for u, x in zip(search.uncertainties, row)] for row in unit]


def scenario_table(search: Search) -> pd.DataFrame:
    """One row per uncertain scenario: its index and the values of the uncertain fields (the base: as written)."""
    rows = [{"scenario": 0, "what": "the base scenario as written"}]
    for i, values in enumerate(uncertain_values(search), start=1):
        rows.append({"scenario": i, "what": "sampled", **{u.name: v for u, v in zip(search.uncertainties, values)}})
    return pd.DataFrame(rows)


# --- policies -------------------------------------------------------------------------------------


def key(codes: tuple) -> str:
    """The policy's key: its coded lever values as JSON (floats exactly, as repr gives them)."""
    return json.dumps(list(codes))


def codes_of(key_: str) -> tuple:
    return tuple(json.loads(key_))


def codes_from_x(search: Search, x: dict) -> tuple:
    """A pymoo solution (a mapping of lever name to value) as coded lever values."""
    return tuple(lever.code(x[lever.name]) for lever in search.levers)


def overrides(search: Search, codes: tuple | None) -> list[tuple[str, Any]]:
    """The fixed overrides and the levers' values: what turns the base scenario into the policy's
    (``codes`` None: the base's own policy)."""
    levers = [] if codes is None else [(lever.path, lever.value(c)) for lever, c in zip(search.levers, codes)]
    return [*search.set.items(), *levers]


# --- evaluation (in a worker) ---------------------------------------------------------------------


def evaluate(problem: Problem, jobs: list[tuple[str, tuple[int, ...]]]) -> pd.DataFrame:
    """Score policies: every uncertain scenario and the given replications of each.

    Args:
        problem: the search's problem.
        jobs: (policy key, replication indices) pairs; the key :data:`BASE_KEY` is the base's policy.

    Returns:
        One row per policy, scenario and replication: ``key``, ``scenario``, ``replication``, ``seed`` and
        one column per measure (a statistic over years of one run).
    """
    search, rows = problem.search, []
    for policy, replications in jobs:
        codes = None if policy == BASE_KEY else codes_of(policy)
        for index, extra in enumerate(problem.scenarios):
            for replication in replications:
                seed = problem.seeds[replication]
                if search.function is not None:
                    frame = pd.DataFrame([FUNCTIONS[search.function](search, codes)])
                else:
                    frame = _run(problem, codes, extra, replication)
                values = {m.name: per_run(m, frame) for m in search.measures}
                rows.append({"key": policy, "scenario": index, "replication": replication, "seed": seed, **values})
    return pd.DataFrame(rows)


def _run(problem: Problem, codes: tuple | None, extra: tuple, replication: int) -> pd.DataFrame:
    from abm.analysis.replications import simulate

    return simulate(
        _jobs(problem.base, dump([list(o) for o in [*overrides(problem.search, codes), *extra]]), problem.seeds)[
            replication
        ]
    )


@lru_cache(maxsize=8)
def _jobs(base: str, overrides_yaml: str, seeds: tuple[int, ...]) -> list:
    """The scenario of a policy in one uncertain scenario, as the runs of ``pension-abm run`` with these
    seeds (abm/analysis/replications.py ``jobs_for``): each with the coefficients its replication draws."""
    import yaml

    from abm.inputs.loader import load_scenario

    scenario = load_scenario(base, [tuple(item) for item in yaml.safe_load(overrides_yaml)])
    return list(zip([scenario] * len(seeds), seeds, _coefficients(scenario, seeds)))


_DRAWS: dict[tuple, list] = {}  # this process's coefficient draws, by what they depend on


def _coefficients(scenario, seeds: tuple[int, ...]) -> list:
    """Each replication's coefficients (abm/analysis/uncertainty.py), drawn once per behaviour section and seeds in a
    process: levers seldom touch behaviour, so the policies of an uncertain scenario share them."""
    from abm.analysis.uncertainty import replication_coefficients

    found = (scenario.behaviour.model_dump_json(), scenario.run.uncertainty, str(scenario.source_file), seeds)
    if found not in _DRAWS:
        if len(_DRAWS) >= 64:
            _DRAWS.clear()
        _DRAWS[found] = replication_coefficients(scenario, list(seeds))
    return _DRAWS[found]


def per_run(measure: Measure, frame: pd.DataFrame) -> float:
    """The measure's statistic over the years of one run (a row per year)."""
    if "year" not in frame:
        return float(frame[measure.indicator].iloc[0])
    series = frame.set_index("year")[measure.indicator]
    if measure.statistic == "value":
        return float(series.loc[measure.year]) if measure.year is not None else float(series.iloc[-1])
    span = series.loc[measure.years[0] : measure.years[1]]
    return float(getattr(span, measure.statistic)())


def zdt1(search: Search, codes: tuple) -> dict[str, float]:
    """ZDT1 (Zitzler, Deb & Thiele 2000) over the levers' positions in their domains: f1 is the first
    lever's, g = 1 + 9 x the mean of the others'; the front (all others at their lowest) is
    f2 = 1 - sqrt(f1), f1 in [0, 1]."""
    x = [lever.position(c) for lever, c in zip(search.levers, codes)]
    f1 = x[0]
    g = 1.0 + 9.0 * (sum(x[1:]) / (len(x) - 1) if len(x) > 1 else 0.0)
    return {"f1": f1, "f2": g * (1.0 - math.sqrt(f1 / g))}


FUNCTIONS = {"zdt1": zdt1}


def zdt1_front(f1: np.ndarray) -> np.ndarray:
    """ZDT1's true front at ``f1``."""
    return 1.0 - np.sqrt(f1)


# --- scores (in the main process) -----------------------------------------------------------------


def over_runs(measure: Measure, values: np.ndarray) -> float:
    """The measure over runs: the mean, or its quantile (linear interpolation, as the bands use)."""
    return float(np.mean(values) if measure.quantile is None else np.quantile(values, measure.quantile))


def scores(search: Search, runs: pd.DataFrame) -> pd.DataFrame:
    """Per policy: every measure over its runs, each constraint's margin and whether all are met.

    Args:
        runs: rows of :func:`evaluate` (one policy or many).
    """
    rows = []
    for policy, part in runs.sort_values(["key", "scenario", "replication"]).groupby("key", sort=False):
        row = {"key": policy, "runs": len(part)}
        for measure in search.measures:
            row[measure.name] = over_runs(measure, part[measure.name].to_numpy())
        for constraint in search.constraints:
            row[f"{constraint.name}_margin"] = constraint.margin(row[constraint.name])
        row["feasible"] = all(row[f"{c.name}_margin"] >= 0 for c in search.constraints)
        rows.append(row)
    return pd.DataFrame(rows)


def matrices(search: Search, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Objectives to minimise (maximised ones negated) and constraint values (<= 0: met), one row per policy."""
    objectives = np.column_stack(
        [table[o.name].to_numpy() * (1.0 if o.direction == "minimize" else -1.0) for o in search.objectives]
    )
    constraints = (
        np.column_stack([-table[f"{c.name}_margin"].to_numpy() for c in search.constraints])
        if search.constraints
        else np.zeros((len(table), 0))
    )
    return objectives, constraints
