"""Yearly indicators counted by hand on small populations: participation as statistics count it."""

from __future__ import annotations

import numpy as np
import pytest

from abm.sim import indicators
from abm.sim.model import PensionModel
from helpers import make_population, year_policy


def test_participants_enrolment_and_participation_by_age_band(baseline):
    """Six residents (weight 10): paying at 20 and at 50; paid before but not this year at 35; never
    paid at 25; a pensioner; a student, not eligible."""
    pop = make_population(6, weight=10.0, age=[20, 50, 35, 25, 70, 17],
                          years=[2, 8, 4, 0, 15, 0], pensioner=[False, False, False, False, True, False],
                          school_until=[16, 16, 16, 16, 16, 18], choice=[100, 300, 0, 0, -1, -1])
    eligible = np.array([True, True, True, True, False, False])
    row = indicators.contributions(pop, eligible, year_policy(baseline, 2020), [100, 300])
    assert row["paying"] == pytest.approx(20)
    assert row["participation_rate"] == pytest.approx(2 / 4)
    assert row["participants"] == pytest.approx((3 + 1) * 10)       # two paying, one paid before, one pensioner
    assert row["enrolment_rate"] == pytest.approx(3 / 4)
    assert row["participation_16_29"] == pytest.approx(1 / 2)       # 20 pays, 25 does not
    assert row["participation_30_44"] == pytest.approx(0)           # 35 paid before, not this year
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

    row = dict.fromkeys(PUBLIC, 0.0) | {"public_basic_pension_central": 600.0, "public_basic_pension_local": 100.0,
                                         "public_entry_subsidies": 300.0}
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


def test_results_readme_documents_every_column_with_its_unit():
    """Each indicator has a row in results/README.md's column table (grade shares as grade_share_<G>),
    whose unit is the one abm/sim/outcomes.py shows it from."""
    import re

    from abm.sim import outcomes
    from helpers import REPO_ROOT

    text = (REPO_ROOT / "results" / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| column | unit | meaning |"):].split("\n\n")[0].splitlines()[2:]
    documented = {}
    for row in table:
        names, unit, _ = (cell.strip() for cell in row.strip("|").split(" | ", 2))
        documented |= dict.fromkeys(re.findall(r"`([A-Za-z0-9_<>]+)`", names), unit)
    all_names = indicators.names([100, 200])
    missing = [name for name in all_names if name not in documented and not name.startswith("grade_share_")]
    assert not missing
    assert documented.pop("grade_share_<G>") == outcomes.indicator("grade_share_100").unit.stored == "share"
    disagree = {name: (unit, outcomes.indicator(name).unit.stored) for name, unit in documented.items()
                if outcomes.indicator(name).unit.stored != unit}
    assert not disagree
    assert set(documented) <= set(all_names)


def test_every_indicator_has_a_label_a_unit_and_a_number_format():
    """abm/sim/outcomes.py covers every column (grade shares by pattern) and nothing else; a share is shown in
    % and money in million yuan, so no figure axis or table needs an offset like 1e9."""
    from abm.sim import outcomes

    all_names = indicators.names([100, 200, 2000])
    assert set(outcomes.INDICATORS) == {n for n in all_names if not n.startswith("grade_share_")}
    for name in all_names:
        shown = outcomes.indicator(name)
        assert shown.label and shown.unit.shown
        assert outcomes.number(name, 0.0) in ("0", "0.0", "0.00")
    assert outcomes.heading("grade_share_2000") == "payers at grade 2000 yuan/year, %"
    assert outcomes.number("participation_rate", 0.8766) == "87.7"
    assert outcomes.number("fund_balance", 1_925_415_637.2) == "1,925.4"
    assert outcomes.number("mean_contribution", 1093.6, signed=True) == "+1,094"
    assert outcomes.number("mean_contribution", -0.4, signed=True) == "+0"      # no negative zero
    assert outcomes.number("funding_ratio", -1e-9) == "0.0"
    with pytest.raises(KeyError, match="abm/sim/outcomes.py"):
        outcomes.indicator("no_such_indicator")
