"""What the targets identify: sensitivities in tolerances, and the lowest-grade share by mechanism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abm.analysis import experiments
from abm.analysis.fitting import aggregates, identification
from abm.inputs.coefficients import load_coefficients
from helpers import small


@pytest.fixture(scope="module")
def coefficients():
    return load_coefficients("default")


def test_sensitivities_are_central_differences_in_tolerances(coefficients):
    """A hand-checkable evaluation: a = 2 lowest + gap^2, b = 3 peer_share; tolerances 1 and 0.5."""

    def evaluate(c):
        return pd.Series(
            {"a": 2 * c.choice["lowest"] + c.valuation["compounding_gap"] ** 2, "b": 3 * c.choice["peer_share"]}
        )

    table = identification.sensitivities(evaluate, coefficients, pd.Series({"a": 1.0, "b": 0.5}))
    rows = {name.split(" ")[0]: row for name, row in table.iterrows()}
    lowest_step = identification.STEP * (aggregates.PARAMETERS["lowest"][2] - aggregates.PARAMETERS["lowest"][1])
    assert rows["lowest"]["a"] == pytest.approx(2 * lowest_step)
    assert rows["lowest"]["b"] == 0
    peer_step = identification.RELATIVE_STEP * coefficients.choice["peer_share"]  # a prior: a share of its value
    assert rows["peer_share"]["b"] == pytest.approx(3 * peer_step / 0.5)
    gap, gap_step = coefficients.valuation["compounding_gap"], identification.STEP * 1.0
    assert rows["compounding_gap"]["a"] == pytest.approx(((gap + gap_step) ** 2 - (gap - gap_step) ** 2) / 2)
    # survey estimates step by a share of their value; every parameter has its row
    assert set(rows) == (
        set(aggregates.PARAMETERS) | set(identification.SURVEY_PARAMETERS) | set(identification.PRIORS)
    )
    assert rows["affordability"]["a"] == 0


@pytest.mark.slow
def test_lowest_grade_decomposition_switches_off_one_mechanism_at_a_time(baseline, coefficients):
    scenario = small(baseline, residents=1000, end_year=2014)
    table = identification.lowest_grade_decomposition(scenario, coefficients, [1, 2], 2014).set_index("mechanism")
    full = table.loc["all (fitted model)", "lowest_grade_share"]
    # the default pull of the lowest grade (lowest > 0 in the priors) holds payers there
    assert coefficients.choice["lowest"] > 0
    assert table.loc["default", "accounts_for"] > 0
    assert table.loc["default", "lowest_grade_share"] == pytest.approx(full - table.loc["default", "accounts_for"])
    # only mechanisms that tell grades apart, each with its active terms
    assert "paying" not in table.index and "basic" not in table.index
    assert "lowest" in table.loc["default", "terms"]


def test_the_loss_adds_the_fitted_experiments_misses_squared():
    table = pd.DataFrame({"simulated": [0.9], "target": [0.8], "tolerance": [0.05], "fitted": [True]})
    evidence = pd.DataFrame({"miss": [1.5, 3.0, 0.0], "fit": [True, False, True]})
    assert aggregates.loss(table, evidence) == pytest.approx(4.0 + 2.25)
    assert aggregates.loss(table) == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("target", "mean", "expected"),
    [
        ({"value": 0.4, "tolerance": 0.15}, 0.1, 2.0),
        ({"bound": "> 0.05", "tolerance": 0.05}, 0.0, 1.0),
        ({"bound": "> 0.05", "tolerance": 0.05}, 0.2, 0.0),
        ({"bound": "|x| < 0.10", "tolerance": 0.05}, -0.2, 2.0),
        ({"bound": "< basic_pension.participation_points", "tolerance": 0.5}, 1.5, 1.0),
        ({"bound": "> 0"}, -1.0, 0.0),  # no tolerance: reported, never fitted
    ],
)
def test_a_miss_is_counted_in_tolerances(target, mean, expected):
    means = {("basic_pension", "participation_points"): 1.0}
    assert experiments.miss(target, mean, means) == pytest.approx(expected)


def test_the_fit_screens_the_bounds_before_the_simplex_so_it_leaves_a_shallow_valley(monkeypatch, coefficients):
    """A loss with a shallow valley near the start (lowest 0.8) and the deepest one far away (6.5):
    the Sobol screening finds the deep valley, which a simplex from the start alone does not."""

    def simulate(scenario, c, seeds, end_year):
        x = c.choice["lowest"]
        return pd.DataFrame({"year": [2018], "x": [min((x - 0.8) ** 2 + 0.3, (x - 6.5) ** 2) ** 0.5]})

    monkeypatch.setattr(aggregates, "simulate", simulate)
    targets = [aggregates.Target(indicator="x", year=2018, value=0.0, tolerance=1.0, source="test")]
    start = coefficients.replace({"lowest": 1.0})
    screened = aggregates.fit(None, start, targets, [1], budget=400)
    assert screened.values["lowest"] == pytest.approx(6.5, abs=0.05)
    assert screened.loss < 0.01 and screened.evaluations <= 400
    monkeypatch.setattr(aggregates, "SCREEN", 0)
    alone = aggregates.fit(None, start, targets, [1], budget=120)
    assert alone.values["lowest"] == pytest.approx(0.8, abs=0.05) and alone.loss > 0.29


def test_local_searches_give_the_same_optima_in_this_process_and_on_two_workers():
    """Each local search is deterministic: run inline or on a pool of two processes, the same optima,
    and every evaluation is reported (through the queue from the workers)."""
    from abm.infra import processes
    from abm.infra.executors import InProcess
    from helpers import TwoValleys

    jobs = [(TwoValleys(), np.array([z0, 0.5, -0.5]), 60) for z0 in (-1.5, 2.5, 0.2)]
    inline: list[float] = []
    alone = aggregates._searches(jobs, InProcess(), inline.append)
    pooled: list[float] = []
    with processes.pool(2, ["abm.analysis.fitting.aggregates"]) as executor:
        together = aggregates._searches(jobs, executor, pooled.append)
    assert [r["loss"] for r in alone] == [r["loss"] for r in together]
    assert sorted(inline) == sorted(pooled) and len(inline) == sum(r["evaluations"] for r in alone)
    assert alone[0]["loss"] == pytest.approx(0.3, abs=1e-3) and alone[1]["loss"] == pytest.approx(0.0, abs=1e-3)


def test_the_fit_keeps_every_local_optimum_best_first(monkeypatch, coefficients):
    """The fit reports each local search's optimum, best first: the deep valley wins and the shallow
    one is kept beside it, so the report can say how close another optimum comes."""

    def simulate(scenario, c, seeds, end_year):
        x = c.choice["lowest"]
        return pd.DataFrame({"year": [2018], "x": [min((x - 0.8) ** 2 + 0.3, (x - 3.5) ** 2) ** 0.5]})

    monkeypatch.setattr(aggregates, "simulate", simulate)
    targets = [aggregates.Target(indicator="x", year=2018, value=0.0, tolerance=1.0, source="test")]
    result = aggregates.fit(None, coefficients.replace({"lowest": 1.0}), targets, [1], budget=200)
    losses = [o["loss"] for o in result.optima]
    assert losses == sorted(losses) and len(result.optima) == aggregates.STARTS
    assert result.optima[0]["values"] == result.values and result.loss == losses[0]
    screened = 1 + 32  # the start and 2^5 Sobol points
    assert sum(o["evaluations"] for o in result.optima) + screened == result.evaluations
