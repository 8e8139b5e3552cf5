"""pension-abm compare: the table of key indicators and differences from the first scenario
(paired over runs with the same seeds), the Markdown page and the figures."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abm.analysis import replications
from abm.analysis.replications import KEY_INDICATORS
from abm.inputs.loader import load_scenario
from abm.sim import outcomes
from helpers import PNG_MAGIC, invoke, squash

BAND = (0.05, 0.95)
RUNS = 2
CHANGE_YEAR = 2013  # B differs from A from this year on
REPORT_YEARS = [2011, 2012, 2013, 2015]


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory, baseline_data) -> dict[str, Path]:
    """A: the baseline, small; B: the same with higher publicity and a tiered subsidy from 2013."""
    folder = tmp_path_factory.mktemp("compare")
    a = copy.deepcopy(baseline_data)
    a.update(name="A", end_year=2015)
    a["population"]["residents"] = 1000
    a["run"] = dict(a["run"], report_years=REPORT_YEARS)
    b = copy.deepcopy(a)
    b["name"] = "B"
    b["policy"]["publicity"] = {**a["policy"]["publicity"], CHANGE_YEAR: 0.95}
    b["policy"]["subsidy"] = {
        **{y: v for y, v in a["policy"]["subsidy"].items() if y < CHANGE_YEAR},
        CHANGE_YEAR: [[100, 30], [200, 60], [300, 90], [500, 150]],
    }
    return {"folder": folder, "A": write_yaml(folder / "A.yaml", a), "B": write_yaml(folder / "B.yaml", b)}


@pytest.fixture(scope="module")
def compared(sources) -> Path:
    out = sources["folder"] / "comparison"
    result = invoke("compare", sources["A"], sources["B"], "--runs", RUNS, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def timeseries(sources) -> dict[str, pd.DataFrame]:
    """Each scenario run here, independently of compare (the same seeds: the same runs)."""
    return {
        name: replications.run(load_scenario(sources[name]), runs=RUNS, workers=1).timeseries for name in ("A", "B")
    }


def values(ts: pd.DataFrame, name: str, year: int) -> pd.Series:
    return ts.loc[ts["year"] == year].set_index("run")[name]


@pytest.mark.slow
def test_compare_writes_table_page_and_figures(compared):
    expected = {
        "comparison.csv",
        "comparison.md",
        "overview.png",
        "cohorts.png",
        "metadata.json",
        *(f"{name}.png" for name in KEY_INDICATORS),
    }
    assert {p.name for p in compared.iterdir()} == expected
    metadata = json.loads((compared / "metadata.json").read_text())
    assert metadata["format"] == "pension-abm/compare/1" and metadata["scenarios"] == ["A", "B"]
    for png in compared.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC, png.name
    assert [p for p in compared.parent.iterdir() if ".partial" in p.name or ".old" in p.name] == []


@pytest.mark.slow
def test_table_has_a_row_per_indicator_year_and_scenario(compared):
    frame = pd.read_csv(compared / "comparison.csv")
    assert list(frame.columns) == [
        "indicator",
        "year",
        "scenario",
        "mean",
        "low",
        "high",
        "difference",
        "difference_low",
        "difference_high",
        "runs",
    ]
    assert len(frame) == len(KEY_INDICATORS) * len(REPORT_YEARS) * 2
    assert set(frame["indicator"]) == set(KEY_INDICATORS)
    assert sorted(set(frame["year"])) == REPORT_YEARS
    assert (frame["runs"] == RUNS).all()


@pytest.mark.slow
def test_first_scenario_differs_from_itself_by_zero(compared):
    frame = pd.read_csv(compared / "comparison.csv")
    a = frame[frame["scenario"] == "A"]
    assert len(a) == len(KEY_INDICATORS) * len(REPORT_YEARS)
    assert (a[["difference", "difference_low", "difference_high"]] == 0).all().all()


@pytest.mark.slow
def test_means_bands_and_paired_differences_match_the_runs(compared, timeseries):
    frame = pd.read_csv(compared / "comparison.csv").set_index(["indicator", "year", "scenario"])
    for name in KEY_INDICATORS:
        for year in REPORT_YEARS:
            a, b = values(timeseries["A"], name, year), values(timeseries["B"], name, year)
            for scenario, series in (("A", a), ("B", b)):
                row = frame.loc[(name, year, scenario)]
                scale = 1e-9 * max(1.0, abs(series).max())
                assert row["mean"] == pytest.approx(series.mean(), abs=scale)
                assert row["low"] == pytest.approx(np.quantile(series, BAND[0]), abs=scale)
                assert row["high"] == pytest.approx(np.quantile(series, BAND[1]), abs=scale)
            row, reference = frame.loc[(name, year, "B")], frame.loc[(name, year, "A")]
            scale = 1e-9 * max(1.0, abs(a).max(), abs(b).max())
            assert row["difference"] == pytest.approx(row["mean"] - reference["mean"], abs=scale)
            paired = (b - a.reindex(b.index)).to_numpy()  # run i of B minus run i of A
            assert row["difference_low"] == pytest.approx(np.quantile(paired, BAND[0]), abs=scale)
            assert row["difference_high"] == pytest.approx(np.quantile(paired, BAND[1]), abs=scale)
            assert row["difference_low"] - scale <= row["difference"] <= row["difference_high"] + scale


@pytest.mark.slow
def test_before_the_change_paired_runs_are_identical(compared):
    """Common random numbers: B equals A run by run until its policy changes."""
    frame = pd.read_csv(compared / "comparison.csv")
    before = frame[(frame["scenario"] == "B") & (frame["year"] < CHANGE_YEAR)]
    assert len(before) == len(KEY_INDICATORS) * len([y for y in REPORT_YEARS if y < CHANGE_YEAR])
    assert (before[["difference", "difference_low", "difference_high"]] == 0).all().all()
    after = frame[(frame["scenario"] == "B") & (frame["year"] > CHANGE_YEAR)]
    assert (after["difference"] != 0).any()


@pytest.mark.slow
def test_markdown_page_has_a_table_per_indicator(compared):
    page = (compared / "comparison.md").read_text()
    assert page.startswith("# Comparison against A")
    assert "![overview](overview.png)" in page
    for name in KEY_INDICATORS:
        assert f"### {outcomes.heading(name)} (`{name}`)" in page
    assert page.count("| year | A | B |") == len(KEY_INDICATORS)
    for year in REPORT_YEARS:
        assert page.count(f"| {year} | ") == len(KEY_INDICATORS)


@pytest.mark.slow
def test_results_folder_and_scenario_file_can_be_mixed(sources, compared, tmp_path):
    folder = tmp_path / "A-results"
    ran = invoke("run", sources["A"], "--runs", RUNS, "--workers", 1, "--out", folder, "--quiet")
    assert ran.exit_code == 0, ran.output
    out = tmp_path / "mixed"
    result = invoke("compare", folder, sources["B"], "--runs", RUNS, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "comparison.csv"), pd.read_csv(compared / "comparison.csv"))
    assert (out / "overview.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_unpaired_runs_have_no_difference_band(sources, tmp_path):
    """B with more runs than A: the difference of means is given, the paired band is not."""
    out = tmp_path / "unpaired"
    folder = tmp_path / "B-results"
    assert invoke("run", sources["B"], "--runs", RUNS + 1, "--workers", 1, "--out", folder, "--quiet").exit_code == 0
    result = invoke("compare", sources["A"], folder, "--runs", RUNS, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "comparison.csv")
    b = frame[frame["scenario"] == "B"]
    assert (b["runs"] == RUNS + 1).all()
    assert b["difference_low"].isna().all() and b["difference_high"].isna().all()
    assert b["difference"].notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["same name", "same file", "single source"])
def test_bad_sources_exit_2_and_write_nothing(sources, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    if case == "same name":
        twin = tmp_path / "A2.yaml"
        twin.write_text(sources["A"].read_text(encoding="utf-8"), encoding="utf-8")
        args, fragment = [sources["A"], twin], "names repeat"
    elif case == "same file":
        args, fragment = [sources["A"], sources["A"]], "names repeat"
    else:
        args, fragment = [sources["A"]], "at least two"
    out = tmp_path / "out"
    result = invoke("compare", *args, "--runs", 1, "--workers", 1, "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert squash(fragment) in squash(result.output)
    assert not out.exists() and not (tmp_path / "results").exists()
    assert [p for p in tmp_path.rglob("*") if ".partial" in p.name] == []


@pytest.mark.slow
def test_compare_reports_a_bad_scenario_file_with_exit_2(sources, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {sources['A']}\nname: bad\npolicy:\n  publicity: {{2013: 1.5}}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("compare", sources["A"], bad, "--runs", 1, "--workers", 1, "--out", out)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "policy.publicity.2013" in squash(result.output) and "bad.yaml" in squash(result.output)
    assert not out.exists()


def test_numbers_of_the_sustainability_indicators():
    """Shares in %, small shares with two decimals, money in million yuan; differences signed."""
    assert outcomes.number("funding_ratio", 0.774) == "77.4"
    assert outcomes.heading("funding_ratio") == "funding ratio, %"
    assert outcomes.number("public_spending_share_gdp", 0.00483) == "0.48"
    assert outcomes.number("public_spending_share_gdp", 0.0012, signed=True) == "+0.12"
    assert outcomes.heading("public_spending_share_gdp", difference=True) == "public spending / county GDP, pts"
    assert outcomes.number("longevity_gap", 1.5e8) == "150.0"
    assert outcomes.heading("longevity_gap") == "longevity gap, million yuan"


def test_a_damaged_results_folder_is_named_before_anything_runs(sources, tmp_path, monkeypatch):
    """A results folder whose timeseries.parquet is cut short: one message naming the file and what to do."""
    folder = tmp_path / "A"
    assert invoke("run", sources["A"], "--runs", 1, "--out", folder, "--quiet").exit_code == 0
    table = folder / "timeseries.parquet"
    table.write_bytes(table.read_bytes()[:100])
    monkeypatch.setattr(replications, "run", lambda *args, **kwargs: pytest.fail("a scenario ran"))
    result = invoke("compare", folder, sources["B"], "--out", tmp_path / "cmp")
    assert result.exit_code == 2, result.output
    assert squash(result.output).startswith(f"error:{table}:damagedornotaParquetfile(")
    assert f"runitsscenarioagain(pension-abmrun...--out{folder})torewritethefolder" in squash(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "cmp").exists()


def test_the_console_table_gives_each_indicator_its_unit_and_the_difference(compared):
    """The last report year: means in each indicator's unit, the difference from the first scenario;
    many scenarios in several tables, each within the console's width and with the first scenario."""
    from rich.console import Console

    from abm.cli import _comparison_tables

    frame = pd.read_csv(compared / "comparison.csv")
    many = pd.concat([frame, *(frame[frame["scenario"] == "B"].assign(scenario=f"B{i}") for i in range(2, 9))])
    last = frame[frame["year"] == frame["year"].max()].set_index(["indicator", "scenario"])
    assert len(_comparison_tables(frame, 80)) == 1
    assert 1 < len(_comparison_tables(many, 120)) < len(_comparison_tables(many, 80))
    for data, width in ((frame, 80), (many, 80), (many, 120)):
        tables = _comparison_tables(data, width)
        count = len(tables)
        for table in tables:
            console = Console(width=width, record=True)
            console.print(table)
            text = console.export_text()
            assert "…" not in text and max(map(len, text.splitlines())) <= width
            for name in KEY_INDICATORS:  # a row starting with the label: A's mean, and B's with the difference
                b = last.loc[(name, "B")]
                a, b = (
                    outcomes.number(name, last.loc[(name, "A"), "mean"]),
                    f"{outcomes.number(name, b['mean'])} ({outcomes.number(name, b['difference'], True)})",
                )
                assert any(
                    line.startswith(f"│ {textwrap.wrap(outcomes.heading(name), 16)[0]}")
                    and f" {a} │" in line
                    and (f" {b} │" in line or "B" not in table.columns[2].header)
                    for line in text.splitlines()
                )
        shown = [column.header for table in tables for column in table.columns[1:]]
        assert sorted(set(shown)) == sorted(set(data["scenario"])) and shown.count("A") == count
