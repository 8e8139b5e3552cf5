"""Money's worth of a grade: IRR by grade, the account pension by hand, errors, the irr command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from abm.cli import app
from abm.errors import UserError
from abm.fund import Fund
from abm.irr import money_worth
from helpers import latest, make_population, with_policy, year_policy


def national_subsidy(grade: int, year: int = 2014) -> float:
    """DOMAIN.md section 1: 30 yuan/year; from 2014, 60 for grades of 500 and above."""
    return 60.0 if grade >= 500 and year >= 2014 else 30.0


def test_irr_falls_as_the_grade_rises(baseline):
    """IRR(100) > IRR(300) > IRR(1000) > IRR(2000): the flat basic pension and subsidy favour low grades."""
    irrs = [money_worth(baseline, grade, entry_age=45).irr for grade in (100, 300, 1000, 2000)]
    assert all(np.isfinite(irrs))
    assert irrs == sorted(irrs, reverse=True) and len(set(irrs)) == 4
    assert irrs[-1] > 0.015      # still above the deposit rate credited to accounts


def test_account_pension_with_constant_rate_by_hand(baseline):
    """Grade 1000 from 45 in 2025: 15 x (1000 + 60) compounded at 1.5%, plus the retirement
    year's interest (credited before the pension is fixed, as in the simulation), divided by 139."""
    result = money_worth(baseline, 1000, entry_age=45)
    assert (result.start_year, result.years, result.retirement_age) == (2025, 15, 60)
    balance = 1060 * ((1.015**15 - 1) / 0.015) * 1.015
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_account_pension_with_dated_rates_by_hand(baseline):
    """Grade 500 from 45 in 2011: yearly interest at the rate in force (3.5%, 3%, 2.75%, 1.5%), then
    the contribution and its subsidy (30 until 2013, 60 from 2014); the pension is the balance after
    the 2026 interest / 139 at 60."""
    rates = baseline.policy.interest_rate
    balance = 0.0
    for year in range(2011, 2026):
        balance = balance * (1 + latest(rates, year)) + 500 + national_subsidy(500, year)
    balance *= 1 + latest(rates, 2026)       # the retirement year's interest comes first
    result = money_worth(baseline, 500, entry_age=45, start_year=2011)
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_monthly_pension_adds_the_indexed_basic_pension(baseline):
    """At retirement in 2040 the basic pension is 143 (2025) grown with 2% prices for 15 years."""
    result = money_worth(baseline, 300, entry_age=45)
    basic_2040 = 143 * 1.02**15
    assert result.monthly_pension - result.monthly_account_pension == pytest.approx(basic_2040, rel=1e-9)


def test_longer_record_gives_a_higher_account_pension(baseline):
    """Entering at 30 instead of 45 (30 years instead of 15) gives more than twice the account pension."""
    short = money_worth(baseline, 500, entry_age=45).monthly_account_pension
    long = money_worth(baseline, 500, entry_age=30).monthly_account_pension
    assert long > 2 * short


def test_unknown_grade_raises_user_error(baseline):
    """A grade not offered in the policy year is a UserError naming --grade and the allowed grades."""
    with pytest.raises(UserError, match="250") as err:
        money_worth(baseline, 250, entry_age=45)
    assert err.value.field == "--grade"
    assert "2000" in str(err.value)


def test_irr_command_prints_one_json_object(monkeypatch, baseline):
    """pension-abm irr --grade 500 --entry-age 45 --json prints the money's worth as one JSON object."""
    result = CliRunner().invoke(app, ["irr", "--grade", "500", "--entry-age", "45", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert {"monthly_account_pension", "monthly_pension", "irr", "replacement_rate"} <= set(data)
    expected = money_worth(baseline, 500, entry_age=45)
    assert data["monthly_account_pension"] == pytest.approx(expected.monthly_account_pension, rel=1e-12)
    assert data["irr"] == pytest.approx(expected.irr, rel=1e-12)


def test_account_pension_matches_the_simulations_fund(baseline):
    """irr.py promises the simulation's account rules: the same 15 years through Fund give the same pension."""
    grade, start = 1000, 2025
    pop = make_population(1, age=45)
    fund = Fund(1.0)
    for year in range(start, start + 15):
        fund.open_year(year)
        fund.collect(pop, np.array([0]), np.array([float(grade)]), np.array([False]), year_policy(baseline, year))
        fund.close_year(pop)
        pop.age += 1
    policy = year_policy(baseline, start + 15)      # 60: no longer eligible; the year's interest, then retire
    fund.open_year(start + 15)
    fund.collect(pop, np.array([], dtype=int), np.array([]), np.array([], dtype=bool), policy)
    assert fund.retire(pop, policy)[0]
    assert money_worth(baseline, grade, entry_age=45).monthly_account_pension == pytest.approx(
        pop.account_pension[0], rel=1e-9)


def test_later_start_year_keeps_the_basic_pension_indexed(baseline):
    """Starting in 2030, retirement is in 2045: basic pension = 143 x 1.02^20, as from a 2025 start."""
    result = money_worth(baseline, 300, entry_age=45, start_year=2030)
    assert result.monthly_pension - result.monthly_account_pension == pytest.approx(143 * 1.02**20, rel=1e-9)


def test_fifteen_years_from_30_draw_the_pension_at_the_pension_age(baseline):
    """Paying 15 years from 30 and stopping: the account earns interest until 60, the pension starts
    at 60 (not at 45), divided by 139."""
    result = money_worth(baseline, 1000, entry_age=30, years=15)
    assert result.retirement_age == 60
    balance = 1060 * ((1.015**15 - 1) / 0.015) * 1.015**16    # 15 payments, then interest to 60 inclusive
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_short_of_years_at_the_pension_age_pays_on_and_keeps_the_divisor(baseline):
    """From 50, 15 years run to 65: the pension starts at 65 on the divisor of the pension age (139)."""
    result = money_worth(baseline, 300, entry_age=50)
    assert (result.years, result.retirement_age) == (15, 65)
    balance = 330 * ((1.015**15 - 1) / 0.015) * 1.015
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_a_later_pension_age_in_force_sets_retirement_and_divisor(baseline):
    """With pension age 65 from 2035, a resident of 45 in 2025 pays until 65 and divides by 101."""
    scenario = with_policy(baseline, pension_age={2011: 60, 2035: 65})
    result = money_worth(scenario, 500, entry_age=45)
    assert (result.years, result.retirement_age) == (20, 65)
    balance = 560 * ((1.015**20 - 1) / 0.015) * 1.015
    assert result.monthly_account_pension == pytest.approx(balance / 101, rel=1e-12)


def test_launch_cohort_backpays_the_gap_at_the_lowest_grade(baseline):
    """59 at launch (2011): pays 100 + 30 subsidy in 2011, at 60 in 2012 the 2012 interest (3%) and 14
    back-paid years at 100 without subsidy; the basic pension then is 55, the IRR very high."""
    result = money_worth(baseline, 100, entry_age=59, backpay=True)
    assert (result.start_year, result.years, result.retirement_age, result.backpaid_years) == (2011, 1, 60, 14)
    balance = 130 * 1.03 + 14 * 100
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)
    assert result.monthly_pension == pytest.approx(55 + balance / 139, rel=1e-12)
    assert result.irr > money_worth(baseline, 100, entry_age=45).irr and result.irr > 0.5


@pytest.mark.parametrize("kwargs, field", [
    (dict(entry_age=59, years=1), "--years"),                       # under 15 years without the launch route
    (dict(entry_age=30, years=14), "--years"),
    (dict(entry_age=45, years=20), "--years"),                      # paying past 60 with 15 years done
    (dict(entry_age=60), "--entry-age"),                            # joining at the pension age
    (dict(entry_age=45, backpay=True), "--backpay"),                # 31 at launch: not the launch cohort
    (dict(entry_age=30, start_year=2011, backpay=True), "--backpay"),
    (dict(entry_age=50, years=11, backpay=True), "--years"),         # pays until 60 at most (10 years)
    (dict(entry_age=45, start_year=2005), "--year"),                # before launch
    (dict(entry_age=45, start_year=2051), "--year"),                # after the scenario's years
])
def test_combinations_the_rules_forbid_are_refused(baseline, kwargs, field):
    with pytest.raises(UserError) as err:
        money_worth(baseline, 100, **kwargs)
    assert err.value.field == field


def test_irr_command_refuses_a_forbidden_combination_with_exit_2():
    """`--entry-age 59 --years 1` used to exit 0 with an IRR of NaN."""
    result = CliRunner().invoke(app, ["irr", "--grade", "100", "--entry-age", "59", "--years", "1"])
    assert result.exit_code == 2
    assert "--years" in result.output and "15" in result.output


def test_a_scenario_ending_before_its_latest_policy_year_is_blamed_not_year(tmp_path, baseline_data):
    """irr --scenario S without --year: the default first year (the latest policy year) lies after S's end;
    the message names the scenario's end_year, not --year (which was not given), and the years --year takes."""
    import yaml

    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(dict(baseline_data, name="short", end_year=2020), sort_keys=False),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["irr", "--grade", "100", "--entry-age", "40", "--scenario", str(path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert message.startswith(f"error: {path}: end_year: the scenario ends in 2020, before its latest policy year")
    assert "give --year 2011-2020, or a scenario running to" in message and "--year:" not in message
