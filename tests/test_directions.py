"""Policy directions: the levers' overrides, the bounds, and a small whole run of paired levers."""

from __future__ import annotations

import pytest

from abm.analysis import directions
from abm.inputs.dated import value_at
from abm.inputs.loader import load_scenario
from helpers import BASELINE, invoke


@pytest.mark.parametrize(
    ("check", "value", "met"),
    [
        (directions.Check("x", "points", low=-0.003), -0.002, True),
        (directions.Check("x", "points", low=-0.003), -0.004, False),
        (directions.Check("x", "points", high=0.0), -0.01, True),
        (directions.Check("x", "points", high=0.0), 0.001, False),
        (directions.Check("x", "relative", 0.15, 0.70), 0.30, True),
        (directions.Check("x", "relative", 0.15, 0.70), 0.10, False),
    ],
)
def test_a_check_holds_strictly_inside_its_bounds(check, value, met):
    assert check.met(value) is met


def test_each_lever_is_a_valid_scenario_change_from_its_year(baseline):
    """Every lever's overrides load on the baseline and change what they say from 2026 only."""
    for direction in directions.DIRECTIONS:
        changed = load_scenario(BASELINE, direction.change(baseline, 2026))
        assert changed != baseline, direction.label
    renamed = load_scenario(BASELINE, directions.grades_renamed(1)(baseline, 2026))
    assert list(value_at(renamed.policy.grades, 2026)) == [g + 1 for g in value_at(baseline.policy.grades, 2026)]
    assert value_at(renamed.policy.grades, 2025) == value_at(baseline.policy.grades, 2025)
    minimum = load_scenario(BASELINE, directions.minimum_grade(200)(baseline, 2026))
    assert min(value_at(minimum.policy.grades, 2026)) == 200
    raised = load_scenario(BASELINE, directions.subsidy_plus(100)(baseline, 2026))
    assert [a for _, a in value_at(raised.policy.subsidy, 2026)] == [
        a + 100 for _, a in value_at(baseline.policy.subsidy, 2026)
    ]
    topped = load_scenario(BASELINE, directions.top_up_plus(100)(baseline, 2026))
    assert value_at(topped.policy.local_top_up, 2026) == value_at(baseline.policy.local_top_up, 2026) + 100


@pytest.fixture(scope="module")
def small_check():
    """Two paired runs of 800 residents: the top-up's lever held to the evidence's direction, and to the
    opposite one (which must fail)."""
    levers = (
        directions.Direction(
            "top-up +100", directions.top_up_plus(100), (directions.Check("participation_rate", "points", low=0.0),)
        ),
        directions.Direction(
            "top-up +100, wrongly expected to lower participation",
            directions.top_up_plus(100),
            (directions.Check("participation_rate", "points", high=0.0),),
        ),
    )
    return directions.check(BASELINE, 2026, runs=2, residents=800, directions=levers)


def test_paired_levers_are_judged_by_their_mean_difference(small_check):
    table = small_check.table
    assert list(table["lever"]) == ["top-up +100", "top-up +100, wrongly expected to lower participation"]
    assert table["difference"].iloc[0] == table["difference"].iloc[1] > 0  # the same runs: the same difference
    assert list(table["met"]) == [True, False] and not small_check.all_met
    assert (table["low"] <= table["difference"]).all() and (table["difference"] <= table["high"]).all()
    assert set(small_check.profile["check"].str[:13]) == {"participation", "highest parti", "choosers aged"}


def test_a_year_the_scenario_cannot_cover_is_refused():
    result = invoke("directions", "baseline", "--year", "2045")
    assert result.exit_code == 2 and "--year" in result.output
