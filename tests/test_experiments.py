"""Virtual experiments: each treatment moves only through the term it should, and the table carries the evidence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from abm.analysis import experiments
from abm.analysis.replications import simulate
from abm.infra.errors import UserError
from abm.inputs.coefficients import BENEFIT_TERMS, load_coefficients
from abm.inputs.scenario import replication_seeds
from helpers import invoke, small

YEAR, RESIDENTS, RUNS = 2016, 2000, 3


@pytest.fixture(scope="module")
def scenario(baseline):
    return small(baseline, end_year=YEAR + 2)


@pytest.fixture(scope="module")
def shipped(scenario):
    """The shipped behaviour with both benefit terms weighed at 0: the experiments' treatments
    reach nobody's choice but through the subsidy term."""
    return load_coefficients(scenario.behaviour.coefficients).replace(dict.fromkeys(BENEFIT_TERMS, 0.0))


def test_information_without_benefit_terms_changes_nothing(scenario, shipped):
    """The treated residents are compared with themselves untaught, with the same draws: with nothing
    in the choice using literacy the effect is exactly 0."""
    effect = experiments.information(scenario, YEAR, RUNS, RESIDENTS, shipped)
    assert effect.shape == (RUNS,)
    np.testing.assert_array_equal(effect, 0.0)
    # the treatment reaches the choice only through the perceived account value: with no compounding
    # gap the literate see what the others see, so even a weighed account value changes nothing
    no_gap = experiments.information(
        scenario, YEAR, RUNS, RESIDENTS, shipped.replace({"account_value": 20.0}, valuation={"compounding_gap": 0.0})
    )
    np.testing.assert_array_equal(no_gap, 0.0)


def test_information_raises_contributions_when_the_account_value_counts(scenario, shipped):
    effect = experiments.information(scenario, YEAR, RUNS, RESIDENTS, shipped.replace({"account_value": 100.0}))
    assert (effect > 0.05).all(), effect


def test_basic_pension_raises_participation_only_through_basic_value(scenario, shipped):
    none = experiments.basic_pension(scenario, YEAR, RUNS, RESIDENTS, shipped)
    np.testing.assert_array_equal(none.participation, 0.0)  # same seeds, nothing in the choice changed
    valued = experiments.basic_pension(scenario, YEAR, RUNS, RESIDENTS, shipped.replace({"basic_value": 20.0}))
    assert (valued.participation > 0).all()
    assert (valued.participation_relative > 0).all()
    # 20 yuan/month on the 2016 national minimum of 70 and Shanxi's top-up of 10
    assert valued.treatment_relative == pytest.approx(20 / (70 + 10))


def test_subsidy_follows_the_sign_of_its_coefficient(scenario, shipped):
    """A rise on every grade adds the same utility to every paying alternative: with a pull of the
    subsidy (at least 0, abm/sim/choice.py SIGNS) participation rises in every run; a pull of 0 changes
    nothing."""
    effect = experiments.subsidy(scenario, YEAR, RUNS, RESIDENTS, shipped.replace({"subsidy": 2.0}))
    assert (effect.participation > 0).all()
    zero = experiments.subsidy(scenario, YEAR, RUNS, RESIDENTS, shipped.replace({"subsidy": 0.0}))
    np.testing.assert_array_equal(zero.participation, 0.0)
    np.testing.assert_array_equal(zero.contribution_relative, 0.0)


def test_age_profile_is_the_gap_of_a_plain_run(scenario):
    gaps = experiments.age_profile(scenario, YEAR, 2, RESIDENTS)
    for gap, seed in zip(gaps, replication_seeds(scenario.run.seed, 2)):
        row = simulate((small(scenario, RESIDENTS, end_year=YEAR), seed, None)).set_index("year").loc[YEAR]
        assert gap == pytest.approx(row["participation_45_59"] - row["participation_16_29"])


def test_raised_adds_from_the_year_on():
    dated = {2011: [(100, 30)], 2014: [(100, 30), (500, 60)], 2020: [(100, 40)]}
    raised = experiments._raised(dated, 2016, lambda rules: [(g, a + 5) for g, a in rules])
    assert raised == {2011: [(100, 30)], 2014: [(100, 30), (500, 60)], 2016: [(100, 35), (500, 65)], 2020: [(100, 45)]}
    assert experiments._raised({2011: 0, "2016-07": 10}, 2016, lambda v: v + 20) == {2011: 0, 2016: 20, "2016-07": 30}


@pytest.fixture(scope="module")
def table(scenario):
    """The experiments of 2 runs of 1,000 residents, in this process."""
    return experiments.run_all(scenario, YEAR, 2, 1000)


@pytest.mark.slow
def test_the_experiments_on_two_workers_give_the_same_table(scenario, table):
    pd.testing.assert_frame_equal(experiments.run_all(scenario, YEAR, 2, 1000, workers=2), table)


def test_run_all_has_every_measure_with_its_target(table):
    evidence = experiments.load_evidence()
    assert sorted(f"{e}.{m}" for e, m in zip(table.experiment, table.measure)) == sorted(experiments.MEASURES)
    assert set(evidence) == set(experiments.MEASURES)
    for row in table.itertuples():
        target = evidence[f"{row.experiment}.{row.measure}"]
        expected = f"{target['value']:g} ± {target['tolerance']:g}" if "value" in target else target["bound"]
        assert row.target == expected
        assert row.source == target["source"] and row.unit == target["unit"]
        assert row.band_low <= row.mean <= row.band_high
        assert isinstance(row.met, bool)
    gap = table.set_index("measure").loc["participation_gap"]
    assert gap.met == (gap["mean"] > 0.05)  # the evidence file's bound


def test_evidence_file_problems_name_the_field(tmp_path):
    bad = tmp_path / "evidence.yaml"
    bad.write_text("targets:\n  - measure: information.contribution_relative\n    bound: '<= 3'\n")
    with pytest.raises(UserError, match="bound") as err:
        experiments.load_evidence(bad)
    assert err.value.field == "targets.0.bound"
    bad.write_text("targets:\n  - measure: nothing.here\n    value: 1\n    tolerance: 1\n")
    with pytest.raises(UserError) as err:
        experiments.load_evidence(bad)
    assert err.value.field == "targets.0.measure"


def test_year_must_leave_the_years_the_experiments_need(scenario):
    experiments.check_year(scenario, YEAR)
    for year in (scenario.start_year - 1, YEAR + 1):
        with pytest.raises(UserError, match=f"allowed {scenario.start_year}-{YEAR}"):
            experiments.information(scenario, year, 1, 500)


def test_command_prints_the_table_and_json(small_scenario_file):
    result = invoke("experiments", small_scenario_file, "--year", 2012, "--runs", 1, "--residents", 500)
    assert result.exit_code == 0, result.output
    for name in ("information", "basic_pension", "subsidy", "age_profile", "target", "met"):
        assert name in result.output
    result = invoke("experiments", small_scenario_file, "--year", 2012, "--runs", 2, "--residents", 500, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["runs"] == 2 and len(data["measures"]) == len(experiments.MEASURES)


def test_command_refuses_a_year_without_room(small_scenario_file):
    result = invoke("experiments", small_scenario_file, "--year", 2013, "--runs", 1, "--residents", 500)
    assert result.exit_code == 2
    assert "--year" in result.output and "allowed 2011-2012" in result.output
