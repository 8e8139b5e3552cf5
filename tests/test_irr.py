"""Money's worth of a grade: IRR by grade, the account pension by hand, errors, the irr command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from abm.analysis.irr import money_worth
from abm.cli import app
from abm.infra.errors import UserError
from abm.inputs.county import load_county
from abm.inputs.loader import load_scenario
from abm.sim.fund import Fund
from abm.sim.model import run_economy
from abm.sim.policy import menu_for_year
from helpers import BASELINE, latest, make_population, with_policy, year_policy


def national_subsidy(grade: int, year: int = 2014) -> float:
    """docs/domain.md section 1: 30 yuan/year; from 2014, 60 for grades of 500 and above."""
    return 60.0 if grade >= 500 and year >= 2014 else 30.0


def test_irr_falls_as_the_grade_rises(baseline):
    """IRR(100) > IRR(300) > IRR(1000) > IRR(2000): the flat basic pension and subsidy favour low grades."""
    irrs = [money_worth(baseline, grade, entry_age=45).irr for grade in (100, 300, 1000, 2000)]
    assert all(np.isfinite(irrs))
    assert irrs == sorted(irrs, reverse=True) and len(set(irrs)) == 4
    assert irrs[-1] > 0.015  # still above the deposit rate credited to accounts


JUNE = 1 + 0.015 * 6 / 12  # half a year's simple interest at 1.5%: paid in June to December, or January to June


@pytest.fixture(scope="module")
def frozen(baseline):
    """The baseline with the 2014 grades and subsidies kept (no revision with income)."""
    return with_policy(baseline, grade_revision=None)


def test_account_pension_with_constant_rate_by_hand(frozen):
    """Grade 1000 from 45 in 2025 under the 2014 list kept: 15 x (1000 + 60) paid at the end of June
    (half a year's interest in its year), compounded at 1.5%; at 60 the pension is fixed at the start
    of July on the balance with the half year's interest accrued, divided by 139."""
    result = money_worth(frozen, 1000, entry_age=45)
    assert (result.start_year, result.years, result.retirement_age) == (2025, 15, 60)
    balance = 1060 * JUNE * ((1.015**15 - 1) / 0.015) * JUNE
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_account_pension_with_dated_rates_by_hand(baseline):
    """Grade 500 from 45 in 2011: the contribution and its subsidy (30 until 2013, 60 from 2014) paid
    in June (in the launch year 2011 in July, the launch month), each year's interest at the rate in
    force (3.5%, 3%, 2.75%, 1.5%) simple within the year; the pension is the balance at the start of
    July 2026 (half the 2026 interest accrued) / 139 at 60."""
    rates = baseline.policy.interest_rate
    balance = 0.0
    for year in range(2011, 2026):
        rate, month = latest(rates, year), 7 if year == 2011 else 6
        balance = balance * (1 + rate) + (500 + national_subsidy(500, year)) * (1 + rate * (12 - month) / 12)
    balance *= 1 + latest(rates, 2026) * 6 / 12
    result = money_worth(baseline, 500, entry_age=45, start_year=2011)
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_monthly_pension_adds_the_indexed_basic_pension(baseline):
    """At retirement in 2040 the basic pension is 143 (2025) grown with 2% prices for 15 years, plus
    Shanxi's top-up of 20 (not indexed)."""
    result = money_worth(baseline, 300, entry_age=45)
    basic_2040 = 143 * 1.02**15 + 20
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
    policy = year_policy(baseline, start + 15)  # 60: no longer eligible; the year's interest, then retire
    fund.open_year(start + 15)
    fund.collect(pop, np.array([], dtype=int), np.array([]), np.array([], dtype=bool), policy)
    assert fund.retire(pop, policy)[0]
    assert money_worth(baseline, grade, entry_age=45).monthly_account_pension == pytest.approx(
        pop.account_pension[0], rel=1e-9
    )


def test_later_start_year_keeps_the_basic_pension_indexed(baseline):
    """Starting in 2030, retirement is in 2045: basic pension = 143 x 1.02^20 + the top-up of 20, as
    from a 2025 start."""
    result = money_worth(baseline, 300, entry_age=45, start_year=2030)
    assert result.monthly_pension - result.monthly_account_pension == pytest.approx(143 * 1.02**20 + 20, rel=1e-9)


def test_fifteen_years_from_30_draw_the_pension_at_the_pension_age(frozen):
    """Paying 15 years from 30 and stopping: the account earns interest until 60, the pension starts
    at 60 (not at 45), divided by 139."""
    result = money_worth(frozen, 1000, entry_age=30, years=15)
    assert result.retirement_age == 60
    balance = 1060 * JUNE * ((1.015**15 - 1) / 0.015) * 1.015**15 * JUNE  # 15 payments, 15 years, half a year
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_short_of_years_at_the_pension_age_pays_on_and_keeps_the_divisor(frozen):
    """From 50, 15 years run to 64: the pension starts in the year of the 15th payment (64, in July,
    after the June payment, as in the simulation) on the divisor of the pension age (139)."""
    result = money_worth(frozen, 300, entry_age=50)
    assert (result.years, result.retirement_age) == (15, 64)
    balance = 330 * JUNE * ((1.015**14 - 1) / 0.015) * JUNE + 330  # the 15th payment has no interest yet
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_a_later_pension_age_in_force_sets_retirement_and_divisor(frozen):
    """With pension age 65 from 2035, a resident of 45 in 2025 pays until 65 and divides by 101."""
    scenario = with_policy(frozen, pension_age={2011: 60, 2035: 65})
    result = money_worth(scenario, 500, entry_age=45)
    assert (result.years, result.retirement_age) == (20, 65)
    balance = 560 * JUNE * ((1.015**20 - 1) / 0.015) * JUNE
    assert result.monthly_account_pension == pytest.approx(balance / 101, rel=1e-12)


def test_launch_cohort_backpays_the_gap_at_the_lowest_grade(baseline):
    """59 at launch (July 2011): pays 100 + 30 subsidy in July 2011 (five months at 3.5%), at 60 in
    2012 half a year at 3% and 14 back-paid years at 100 without subsidy at the start of July; the
    basic pension then is 55, the IRR very high."""
    result = money_worth(baseline, 100, entry_age=59, backpay=True)
    assert (result.start_year, result.years, result.retirement_age, result.backpaid_years) == (2011, 1, 60, 14)
    balance = 130 * (1 + 0.035 * 5 / 12) * (1 + 0.03 * 6 / 12) + 14 * 100
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)
    assert result.monthly_pension == pytest.approx(55 + balance / 139, rel=1e-12)
    assert result.irr > money_worth(baseline, 100, entry_age=45).irr and result.irr > 0.5


def test_a_revised_list_moves_the_grade_to_the_nearest_offered_one(baseline):
    """Under the baseline's revisions (every five years from 2030, incomes relative to 2025), grade 2000
    from 30 in 2025: 2000 stays offered in 2030 (1,500 x 1.276 rounds to 2,000) with the revised
    subsidy 80 (60 x 1.276 rounded to 10); the 2035 list drops it and the resident pays 2,500, the
    grade nearest (as a ratio) to 2,000 moved with that year's income growth (4%); each year's
    contribution and subsidy are the revised list's, by hand below."""
    result = money_worth(baseline, 2000, entry_age=30, years=15)
    economy = run_economy(baseline, load_county(baseline))
    grades_2030, rules_2030 = menu_for_year(baseline.policy, 2030, economy)
    grades_2035, rules_2035 = menu_for_year(baseline.policy, 2035, economy)
    assert 2000 in grades_2030 and rules_2030[-1] == (600, 80.0)
    assert 2000 not in grades_2035 and {1500, 2500} <= set(grades_2035) and rules_2035[-1] == (800, 90.0)
    balance = 0.0
    for year in range(2025, 2040):  # paid at the end of June: half a year's interest in its year
        grade, subsidy = (2000, 60) if year < 2030 else (2000, 80) if year < 2035 else (2500, 90)
        balance = balance * 1.015 + (grade + subsidy) * JUNE
    balance *= 1.015**15 * JUNE  # interest to 60 (in 2055), the pension fixed in July
    assert result.retirement_age == 60
    assert result.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)


def test_a_grade_dropped_by_a_dated_list_is_followed_too(baseline):
    """grade_redesign drops 100 from 2026 (lowest 200): a resident paying 100 from 2020 pays 200 from
    2026 (the nearest offered grade) instead of stopping with an error."""
    redesign = with_policy(load_scenario(BASELINE.parent / "grade_redesign.yaml"), grade_revision=None)
    kept = money_worth(with_policy(baseline, grade_revision=None), 100, entry_age=40, start_year=2020)
    moved = money_worth(redesign, 100, entry_age=40, start_year=2020)
    balance = 0.0
    for year in range(2020, 2040):  # paid at the end of June
        rate = latest(baseline.policy.interest_rate, year)
        balance = balance * (1 + rate) + ((100 if year < 2026 else 200) + 30) * (1 + rate * 6 / 12)
    balance *= JUNE
    assert moved.monthly_account_pension == pytest.approx(balance / 139, rel=1e-12)
    assert moved.monthly_account_pension > kept.monthly_account_pension


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(entry_age=59, years=1), "--years"),  # under 15 years without the launch route
        (dict(entry_age=30, years=14), "--years"),
        (dict(entry_age=45, years=20), "--years"),  # paying past 60 with 15 years done
        (dict(entry_age=60), "--entry-age"),  # joining at the pension age
        (dict(entry_age=45, backpay=True), "--backpay"),  # 31 at launch: not the launch cohort
        (dict(entry_age=30, start_year=2011, backpay=True), "--backpay"),
        (dict(entry_age=50, years=11, backpay=True), "--years"),  # pays until 60 at most (10 years)
        (dict(entry_age=45, start_year=2005), "--year"),  # before launch
        (dict(entry_age=45, start_year=2051), "--year"),  # after the scenario's years
    ],
)
def test_combinations_the_rules_forbid_are_refused(baseline, kwargs, field):
    with pytest.raises(UserError) as err:
        money_worth(baseline, 100, **kwargs)
    assert err.value.field == field


def test_irr_command_refuses_a_forbidden_combination_with_exit_2():
    """`--entry-age 59 --years 1` used to exit 0 with an IRR of NaN."""
    result = CliRunner().invoke(app, ["irr", "--grade", "100", "--entry-age", "59", "--years", "1"])
    assert result.exit_code == 2
    assert "--years" in result.output and "15" in result.output


def test_rate_of_return_of_a_short_life_by_hand(baseline, monkeypatch):
    """The launch cohort's route for a resident who dies at the end of the year they turn 61 (a life
    table with q = 1 at 61). 2011: 100 paid in July (five months left). 2012: 1,400 back-paid at the
    start of July, pension (55 + account pension P) at the end of July-December. 2013: twelve
    months, then the heirs get the account at the end of the year. Year t's flows are worth
    N_t + r T_t at its end (T: each amount times the share of the year left after it) and
    discounted (1 + r)^-t: the rate is the root of a cubic, found here with numpy.roots."""
    from abm.analysis import irr
    from abm.sim.demography import LifeTable

    qx = np.zeros((2, 106))
    qx[:, 61:] = 1.0
    monkeypatch.setattr(irr.LifeTable, "for_county", classmethod(lambda cls, county: LifeTable(qx=qx)))
    result = money_worth(baseline, 100, entry_age=59, backpay=True)
    opening_2012 = 130 * (1 + 0.035 * 5 / 12)
    account = (opening_2012 * (1 + 0.03 * 6 / 12) + 1400) / 139
    assert result.monthly_account_pension == pytest.approx(account, rel=1e-12)
    monthly = 55 + account
    top_up = 10  # Shanxi's addition from 2013
    opening_2013 = opening_2012 * 1.03 + 1400 * (1 + 0.03 * 6 / 12) - account * (6 + 0.03 * 15 / 12)
    heirs = opening_2013 * 1.03 - account * (12 + 0.03 * 5.5)
    n = [-100, 6 * monthly - 1400, 12 * (monthly + top_up) + heirs]
    t = [-100 * 5 / 12, monthly * 15 / 12 - 1400 * 6 / 12, (monthly + top_up) * 5.5]
    # (n0 + r t0)(1 + r)^2 + (n1 + r t1)(1 + r) + n2 + r t2 = 0, in powers of r
    cubic = [t[0], n[0] + 2 * t[0] + t[1], 2 * n[0] + t[0] + n[1] + t[1] + t[2], n[0] + n[1] + n[2]]
    roots = [r.real for r in np.roots(cubic) if abs(r.imag) < 1e-12 and -0.5 < r.real < 5]
    assert len(roots) == 1
    assert result.irr == pytest.approx(roots[0], abs=1e-9)


def test_a_scenario_ending_before_its_latest_policy_year_is_blamed_not_year(tmp_path, baseline_data):
    """irr --scenario S without --year: the default first year (the latest policy year) lies after S's end;
    the message names the scenario's end_year, not --year (which was not given), and the years --year takes."""
    import yaml

    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(dict(baseline_data, name="short", end_year=2020), sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["irr", "--grade", "100", "--entry-age", "40", "--scenario", str(path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert message.startswith(f"error: {path}: end_year: the scenario ends in 2020, before its latest policy year")
    assert "give --year 2011-2020, or a scenario running to" in message and "--year:" not in message
