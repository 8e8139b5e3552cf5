"""Yearly indicators counted by hand on small populations: participation as statistics count it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from abm.sim import indicators
from abm.sim.model import PensionModel
from helpers import make_population, year_policy


def test_participants_enrolment_and_participation_by_age_band(baseline):
    """Six residents (weight 10): paying at 20 and at 50; paid before but not this year at 35; never
    paid at 25; a pensioner; a student, not eligible."""
    pop = make_population(
        6,
        weight=10.0,
        age=[20, 50, 35, 25, 70, 17],
        years=[2, 8, 4, 0, 15, 0],
        pensioner=[False, False, False, False, True, False],
        school_until=[16, 16, 16, 16, 16, 18],
        choice=[100, 300, 0, 0, -1, -1],
    )
    eligible = np.array([True, True, True, True, False, False])
    row = indicators.contributions(pop, eligible, year_policy(baseline, 2020), [100, 300])
    assert row["paying"] == pytest.approx(20)
    assert row["participation_rate"] == pytest.approx(2 / 4)
    assert row["participants"] == pytest.approx((3 + 1) * 10)  # two paying, one paid before, one pensioner
    assert row["enrolment_rate"] == pytest.approx(3 / 4)
    assert row["participation_16_29"] == pytest.approx(1 / 2)  # 20 pays, 25 does not
    assert row["participation_30_44"] == pytest.approx(0)  # 35 paid before, not this year
    assert row["participation_45_59"] == pytest.approx(1)


def test_enrolment_and_age_bands_stay_within_their_ranges_in_a_run(small_scenario):
    model = PensionModel(scenario=small_scenario)
    while model.running:
        model.step()
    table = model.datacollector.get_model_vars_dataframe()
    for column in ("enrolment_rate", *indicators.AGE_BANDS):
        assert table[column].between(0, 1).all(), column
    assert (table["enrolment_rate"] >= table["participation_rate"]).all()
    assert (table["participants"] >= table["paying"]).all()


def test_fiscal_cost_per_person_as_shares_and_by_payer():
    from abm.sim.fund import PUBLIC

    row = dict.fromkeys(PUBLIC, 0.0) | {
        "public_basic_pension_central": 600.0,
        "public_basic_pension_local": 100.0,
        "public_entry_subsidies": 300.0,
    }
    row["public_spending"] = sum(row[k] for k in PUBLIC)
    fiscal = indicators.fiscal(row, population=50.0, gdp=100_000.0, budget_revenue=10_000.0)
    assert fiscal["public_spending_per_person"] == pytest.approx(20.0)
    assert fiscal["public_spending_share_gdp"] == pytest.approx(0.01)
    assert fiscal["public_spending_share_budget"] == pytest.approx(0.1)
    assert fiscal["public_spending_central"] == 600.0 and fiscal["public_spending_local"] == 400.0
    assert set(fiscal) == set(indicators.FISCAL)


def test_a_run_values_the_accounts_every_year(small_scenario):
    """Liability covers the accounts (funding ratio at most 1, at valuation rate = interest rate the
    shortfall is the longevity gap); the GDP share is spending over the county's GDP path."""
    model = PensionModel(scenario=small_scenario)
    while model.running:
        model.step()
    df = model.datacollector.get_model_vars_dataframe()
    assert (df["funding_ratio"] > 0).all() and (df["funding_ratio"] <= 1 + 1e-12).all()
    np.testing.assert_allclose(df["account_liability"], df["fund_balance"] + df["longevity_gap"], rtol=1e-9)
    assert (df["basic_pension_obligation"] > 0).all()
    np.testing.assert_allclose(df["public_spending_share_gdp"], df["public_spending"] / df["gdp"])
    assert df["gdp"].is_monotonic_increasing


def test_every_column_a_run_writes_is_in_the_registry_and_every_entry_is_written(small_scenario):
    """The model's columns are the registry's (abm/sim/outcomes.py), in its order, grade shares one per
    grade: each computation writes exactly its group's columns, and the fund's ledger items are all columns."""
    from abm.sim import outcomes
    from abm.sim.actuarial import COLUMNS as VALUATION
    from abm.sim.fund import INFLOWS, OUTFLOWS, PUBLIC

    model = PensionModel(scenario=small_scenario.model_copy(update={"end_year": small_scenario.start_year + 1}))
    while model.running:
        model.step()
    written = list(model.datacollector.get_model_vars_dataframe().columns)
    assert set(model.indicators) == set(written)  # nothing computed is left out of the table
    assert written == indicators.names(model.all_grades)
    grades = [c for c in written if outcomes.GRADE_SHARE.fullmatch(c)]
    assert grades == [indicators.grade_column(g) for g in model.all_grades] and grades
    assert {c for c in written if c not in grades} == set(outcomes.INDICATORS) - {outcomes.GRADE_SHARES}
    for group in outcomes.GROUPS:
        assert outcomes.group(group), group
    assert VALUATION == outcomes.group("valuation")
    assert set(INFLOWS + OUTFLOWS + PUBLIC) <= set(indicators.MONEY)


def test_results_readme_column_table_is_the_registry():
    """results/README.md's column table is docs/build.py's rendering of the registry: one row per column (the
    grade shares as grade_share_<G>) with its stored unit, meaning and key flag; `python docs/build.py` rewrites it."""
    import importlib.util
    import sys

    from abm.sim import outcomes
    from helpers import REPO_ROOT

    spec = importlib.util.spec_from_file_location("docs_build", REPO_ROOT / "docs" / "build.py")
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build
    spec.loader.exec_module(build)
    text = build.RESULTS_README.read_text(encoding="utf-8")
    assert build.stale(text, build.results_sections(), build.RESULTS_README) == [], (
        "results/README.md's column table differs from the registry: run `python docs/build.py`"
    )
    rows = build.parse(text)["columns"].splitlines()[2:]
    documented = {}
    for row in rows:
        name, unit, meaning, key = (cell.strip() for cell in row.strip("|").split(" | "))
        documented[name.strip("`")] = (unit, meaning, key)
    assert list(documented) == list(outcomes.INDICATORS)
    assert documented["participation_rate"] == ("share", "paying / eligible (this year's payers)", "key")
    assert documented["grade_share_<G>"][0] == outcomes.indicator("grade_share_100").unit.stored == "share"
    assert [name for name, (_, _, key) in documented.items() if key] == list(outcomes.KEY_INDICATORS)


def test_every_indicator_has_a_label_a_unit_and_a_number_format():
    """abm/sim/outcomes.py covers every column (grade shares by pattern) and nothing else; a share is shown in
    % and money in million yuan, so no figure axis or table needs an offset like 1e9."""
    from abm.sim import outcomes

    all_names = indicators.names([100, 200, 2000])
    columns = {n for n in all_names if not n.startswith("grade_share_")}
    assert set(outcomes.INDICATORS) - {outcomes.GRADE_SHARES} == columns
    for name, entry in outcomes.INDICATORS.items():
        assert entry.meaning and entry.group in outcomes.GROUPS, name
        assert entry.panel is None or entry.panel in outcomes.PANELS, name
    for name in all_names:
        shown = outcomes.indicator(name)
        assert shown.label and shown.unit.shown
        assert outcomes.number(name, 0.0) in ("0", "0.0", "0.00")
    assert outcomes.heading("grade_share_2000") == "payers at grade 2000 yuan/year, %"
    assert outcomes.number("participation_rate", 0.8766) == "87.7"
    assert outcomes.number("fund_balance", 1_925_415_637.2) == "1,925.4"
    assert outcomes.number("mean_contribution", 1093.6, signed=True) == "+1,094"
    assert outcomes.number("mean_contribution", -0.4, signed=True) == "+0"  # no negative zero
    assert outcomes.number("funding_ratio", -1e-9) == "0.0"
    with pytest.raises(KeyError, match=re.escape("abm/sim/outcomes.py")):
        outcomes.indicator("no_such_indicator")


def test_key_indicators_and_panels_come_from_the_registry():
    """The summary's and comparisons' key indicators and each figure panel's series and legend labels are the
    registry's; every panel draws something."""
    from abm.analysis import compare, plots, replications
    from abm.sim import outcomes

    assert replications.KEY_INDICATORS is outcomes.KEY_INDICATORS
    assert compare.table.__defaults__ == (outcomes.KEY_INDICATORS,)
    assert outcomes.KEY_INDICATORS[:3] == ("participation_rate", "lowest_grade_share", "top_grade_share")
    assert plots.ENROLMENT == {
        "participation_rate": "participation rate (paying / eligible)",
        "lowest_grade_share": "payers at the lowest grade",
        "top_grade_share": "payers at the highest grade",
    }
    assert plots.PUBLIC == {
        name: outcomes.label(name)
        for name in outcomes.INDICATORS
        if name.startswith("public_") and outcomes.indicator(name).panel == "public"
    }
    assert all(outcomes.panel(name) for name in outcomes.PANELS)
    with pytest.raises(KeyError, match="no panel"):
        outcomes.panel("no_such_panel")
