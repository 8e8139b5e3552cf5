"""Replications: seeds spawned from one base seed, so results depend neither on the number of
workers nor on how many runs were asked; bands over runs; the results folder of several runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from abm.analysis import replications
from abm.analysis.replications import KEY_INDICATORS
from abm.inputs.loader import load_scenario
from abm.inputs.scenario import Scenario, replication_seeds
from helpers import invoke, small

BAND = (0.05, 0.95)  # the documented 90% band


@pytest.fixture(scope="module")
def tiny(baseline) -> Scenario:
    """1,000 residents, 2011-2015."""
    return small(baseline, residents=1000, end_year=2015)


@pytest.fixture(scope="module")
def three_runs(tiny) -> replications.RunResult:
    return replications.run(tiny, runs=3, workers=1)


@pytest.fixture(scope="module")
def three_runs_two_workers(tiny) -> replications.RunResult:
    return replications.run(tiny, runs=3, workers=2)


def exact(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True), check_exact=True)


def test_worker_count_does_not_change_results(three_runs, three_runs_two_workers):
    exact(three_runs.timeseries, three_runs_two_workers.timeseries)
    assert three_runs.seeds == three_runs_two_workers.seeds


def test_timeseries_has_run_and_year_first_and_each_year_once_per_run(three_runs, tiny):
    ts = three_runs.timeseries
    assert list(ts.columns[:2]) == ["run", "year"]
    assert sorted(set(ts["run"])) == [0, 1, 2]
    for run in range(3):
        assert list(ts.loc[ts["run"] == run, "year"]) == list(tiny.years)
    assert len(ts) == 3 * len(tiny.years)
    assert set(KEY_INDICATORS) <= set(ts.columns)


def test_same_call_twice_gives_identical_results(three_runs, tiny):
    exact(three_runs.timeseries, replications.run(tiny, runs=3, workers=1).timeseries)


def test_seeds_are_spawned_from_the_scenario_seed(three_runs, tiny):
    assert three_runs.seed == tiny.run.seed
    assert three_runs.seeds == replication_seeds(tiny.run.seed, 3)
    assert len(set(three_runs.seeds)) == 3
    assert three_runs.runs == 3


def test_run_i_does_not_depend_on_how_many_runs_were_asked(three_runs, tiny):
    assert replication_seeds(tiny.run.seed, 2) == replication_seeds(tiny.run.seed, 3)[:2]
    two = replications.run(tiny, runs=2, workers=1).timeseries
    exact(two, three_runs.timeseries[three_runs.timeseries["run"] < 2])


def test_a_replication_is_reproduced_from_its_own_seed(three_runs, tiny):
    """Run 2 alone, from its spawned seed (and the coefficients drawn from it: abm/analysis/uncertainty.py),
    gives run 2's rows."""
    job = replications.jobs_for(tiny, three_runs.seeds)[2]
    assert job[1] == three_runs.seeds[2] and job[2] is not None
    alone = replications.simulate(job)
    rows = three_runs.timeseries[three_runs.timeseries["run"] == 2].drop(columns="run")
    exact(alone[rows.columns], rows)


def test_replications_differ_from_each_other(three_runs):
    ts = three_runs.timeseries.set_index(["run", "year"])
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not ts.loc[a].equals(ts.loc[b]), (a, b)
        assert (ts.loc[a, "participation_rate"] != ts.loc[b, "participation_rate"]).any()


def test_base_seed_argument_replaces_the_scenarios(tiny):
    other = replications.run(tiny, seed=tiny.run.seed + 1, runs=1)
    assert other.seeds == replication_seeds(tiny.run.seed + 1, 1)
    assert not other.timeseries.equals(replications.run(tiny, runs=1).timeseries)


def test_runs_default_to_the_scenarios_replications(tiny):
    result = replications.run(tiny.model_copy(update={"run": tiny.run.model_copy(update={"replications": 2})}))
    assert result.runs == 2 and sorted(set(result.timeseries["run"])) == [0, 1]


def test_bands_are_mean_and_90_percent_band_over_runs(three_runs):
    ts = three_runs.timeseries
    table = three_runs.bands()
    indicators = [c for c in ts.columns if c not in ("run", "year")]
    assert set(table["indicator"]) == set(indicators)
    assert len(table) == len(indicators) * ts["year"].nunique()
    table = table.set_index(["indicator", "year"])
    for name in indicators:
        for year, part in ts.groupby("year"):
            values = part[name].to_numpy()
            assert len(values) == 3
            row = table.loc[(name, year)]
            assert row["mean"] == pytest.approx(values.sum() / len(values), rel=1e-12, abs=1e-12)
            assert row["low"] == pytest.approx(np.quantile(values, BAND[0]), rel=1e-12, abs=1e-12)
            assert row["high"] == pytest.approx(np.quantile(values, BAND[1]), rel=1e-12, abs=1e-12)
            slack = 1e-9 * max(1.0, abs(row["mean"]))
            assert values.min() - slack <= row["low"] <= row["mean"] + slack
            assert row["mean"] - slack <= row["high"] <= values.max() + slack


def test_band_is_a_single_value_for_one_run(tiny):
    table = replications.run(tiny, runs=1).bands()
    assert (table["low"] == table["mean"]).all() and (table["high"] == table["mean"]).all()


@pytest.mark.slow
def test_cli_run_with_three_runs_on_two_workers_writes_bands_and_seeds(tmp_path, small_scenario_file):
    out = tmp_path / "out"
    result = invoke("run", small_scenario_file, "--runs", 3, "--workers", 2, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    spec = load_scenario(small_scenario_file)
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert sorted(set(ts["run"])) == [0, 1, 2]

    bands_csv, bands_parquet = pd.read_csv(out / "bands.csv"), pd.read_parquet(out / "bands.parquet")
    pd.testing.assert_frame_equal(bands_csv, bands_parquet, check_dtype=False, rtol=1e-12)
    assert list(bands_parquet.columns) == ["indicator", "year", "mean", "low", "high"]
    stats = bands_parquet.set_index(["indicator", "year"])

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["runs"], summary["seed"]) == (3, spec.run.seed)
    assert list(summary["indicators"]) == list(KEY_INDICATORS)
    years = [str(y) for y in spec.report_years]
    assert years == [str(spec.start_year), str(spec.end_year)]  # 2011-2014: no tenth year between
    for name, by_year in summary["indicators"].items():
        assert list(by_year) == years
        for year, cell in by_year.items():
            assert set(cell) == {"mean", "low", "high"}
            assert cell["low"] <= cell["high"]
            values = ts.loc[ts["year"] == int(year), name].to_numpy()
            assert cell["mean"] == pytest.approx(values.mean(), rel=1e-12, abs=1e-12)
            assert cell["mean"] == pytest.approx(stats.loc[(name, int(year)), "mean"], rel=1e-12, abs=1e-12)
            assert cell["low"] == pytest.approx(np.quantile(values, BAND[0]), rel=1e-12, abs=1e-12)
            assert cell["high"] == pytest.approx(np.quantile(values, BAND[1]), rel=1e-12, abs=1e-12)

    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["replication_seeds"] == replication_seeds(spec.run.seed, 3)
    assert len(set(metadata["replication_seeds"])) == 3
    assert metadata["seed"] == spec.run.seed

    # the same scenario on one worker in-process: the very same time series
    exact(ts, replications.run(spec, runs=3, workers=1).timeseries)
