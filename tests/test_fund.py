"""Individual accounts and the ledger: collection, retirement, pensions, exhaustion, inheritance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from abm.inputs.scenario import GradeRevision
from abm.sim.fund import Fund, FundImbalance, monthly_account_pension, monthly_basic_pension
from abm.sim.model import PensionModel
from abm.sim.policy import GROUP_CODES, backpay_gap, eligible_to_contribute
from helpers import make_population, with_policy, year_policy

W = 10.0  # persons per simulated resident: every ledger amount is 10x the accounts' change
JUNE_2014 = 1 + 0.0275 * 6 / 12  # paid at the end of June 2014: half a year's simple interest at 2.75%
HALF_2040 = 1 + 0.015 * 6 / 12  # half a year's interest at 1.5% (2015 on)
YEAR_2040 = 12 + 0.015 * 5.5  # twelve monthly yuan at the end of 2040: sum of 1 + 1.5% x (12 - m) / 12


def _open(pop, year):
    """A fund whose books hold the population's accounts, with ``year`` opened."""
    fund = Fund(pop.weight)
    fund.balance = float(pop.account.sum()) * pop.weight
    fund.open_year(year)
    return fund


def _collect(pop, policy, grade, gov_paid=None):
    """Every resident is eligible; one year's contributions and interest."""
    fund = _open(pop, policy.year)
    rows = np.arange(len(pop))
    gov_paid = np.zeros(len(pop), bool) if gov_paid is None else np.asarray(gov_paid)
    fund.collect(pop, rows, np.asarray(grade, dtype=float), gov_paid, policy)
    return fund, fund.close_year(pop)


def test_contributions_subsidies_and_interest_go_into_accounts_and_ledger(baseline):
    """Account = opening x (1 + rate) + (grade + subsidy) x (1 + rate x 6/12): paid at the end of June
    (from 2014 the subsidy is 30 below 500, 60 from 500), interest credited at the end of the year,
    simple within it; the ledger records each."""
    policy = year_policy(baseline, 2014)  # interest 2.75% in 2014
    assert policy.collection_month == 6
    pop = make_population(3, weight=W, account=[1000.0, 0.0, 0.0])
    _fund, row = _collect(pop, policy, grade=[100, 500, 0])
    np.testing.assert_allclose(pop.account, [1000 * 1.0275 + 130 * JUNE_2014, 560 * JUNE_2014, 0], rtol=1e-12)
    np.testing.assert_array_equal(pop.years, [1, 1, 0])
    assert row["interest"] == pytest.approx((27.5 + (130 + 560) * 0.0275 / 2) * W)
    assert row["contributions"] == pytest.approx(600 * W)
    assert row["entry_subsidies"] == pytest.approx(90 * W)
    assert row["public_entry_subsidies"] == pytest.approx(90 * W)
    assert row["government_contributions"] == 0
    assert row["closing_balance"] == pytest.approx((1027.5 + 690 * JUNE_2014) * W)


@pytest.mark.parametrize("year", [2011, 2012, 2013])
def test_2009_rules_subsidise_every_grade_30_yuan_until_2014(baseline, year):
    """Guofa [2009] No. 32: a flat 30 yuan on every grade; the 60 for grades of 500 and more is the 2014 rule.
    Paid in June (in the launch year 2011 in July, the launch month) and credited with the months' interest."""
    policy = year_policy(baseline, year)
    pop = make_population(3, weight=W)
    _, row = _collect(pop, policy, grade=[100, 500, 400])
    growth = {2011: 1 + 0.035 * 5 / 12, 2012: 1 + 0.03 * 6 / 12, 2013: 1 + 0.03 * 6 / 12}[year]
    np.testing.assert_allclose(pop.account, np.array([130, 530, 430]) * growth, rtol=1e-12)
    assert row["entry_subsidies"] == pytest.approx(90 * W)


def test_government_paid_residents_get_the_paid_grade_and_its_subsidy_as_public_spending(baseline):
    """Government pays grade 200 with Anhui's 40 subsidy: public money, not the resident's contribution."""
    scenario = with_policy(
        baseline, subsidy={2011: [[100, 30], [200, 40], [500, 70]]}, government_paid_grade={2011: 200}
    )
    policy = year_policy(scenario, 2011)
    assert policy.government_paid_subsidy == 40
    pop = make_population(2, weight=W)
    _fund, row = _collect(pop, policy, grade=[policy.government_paid_grade, 100], gov_paid=[True, False])
    np.testing.assert_allclose(pop.account, np.array([240, 130]) * (1 + 0.035 * 5 / 12))  # July 2011 to December
    assert row["government_contributions"] == pytest.approx(200 * W)
    assert row["public_government_contributions"] == pytest.approx(200 * W)
    assert row["contributions"] == pytest.approx(100 * W)
    assert row["public_entry_subsidies"] == pytest.approx(70 * W)


def test_model_year_government_paid_residents_pay_the_government_grade(small_scenario):
    """In a simulated year everyone the government pays for is in a paid group, at the paid grade."""
    model = PensionModel(scenario=small_scenario.model_copy(update={"end_year": 2017}))
    while model.running:  # through 2017, when the poor join the disabled
        model.step()
    pop = model.population
    paid = pop.gov_paid
    assert paid.any()
    assert np.all(pop.choice[paid] == model.policy.government_paid_grade)
    assert set(np.unique(pop.group[paid])) <= {GROUP_CODES["disabled"], GROUP_CODES["poor"]}
    eligible = pop.choice >= 0
    assert np.all(paid == (eligible & (pop.group > 0)))


def test_fifteen_year_rule(baseline):
    """At 60, 14 contribution years are not enough for a pension, 15 are (not transitional)."""
    policy = year_policy(baseline, 2040)  # 60 in 2040: 31 at launch
    pop = make_population(2, weight=W, age=60, years=[14, 15], account=[1000.0, 1000.0])
    fund = _open(pop, 2040)
    retiring = fund.retire(pop, policy)
    np.testing.assert_array_equal(retiring, [False, True])
    np.testing.assert_array_equal(pop.pensioner, [False, True])
    np.testing.assert_array_equal(pop.years, [14, 15])  # no back-payment outside the cohort
    fund.close_year(pop)


def test_transitional_cohort_backpays_at_the_lowest_grade_without_subsidy(baseline):
    """Under 15 years to go at launch: the gap is back-paid at the lowest grade, no subsidy, to 15 years,
    at the start of July; the account pension is fixed then on the balance with half a year's interest."""
    policy = year_policy(baseline, 2014)  # 60 in 2014: 57 at launch
    pop = make_population(3, weight=W, age=60, years=[3, 1, 0], account=[500.0, 200.0, 0.0])
    fund = _open(pop, 2014)
    retiring = fund.retire(pop, policy)
    row = fund.close_year(pop)
    lowest = policy.grades[0]
    np.testing.assert_array_equal(retiring, [True, True, False])  # never paid: no right to back-pay
    np.testing.assert_array_equal(pop.years, [15, 15, 0])  # capped at 15 in total
    np.testing.assert_allclose(
        pop.account, [500 * 1.0275 + 12 * lowest * JUNE_2014, 200 * 1.0275 + 14 * lowest * JUNE_2014, 0]
    )
    assert row["backpayments"] == pytest.approx(26 * lowest * W)
    assert row["entry_subsidies"] == 0 and row["public_entry_subsidies"] == 0
    np.testing.assert_allclose(
        pop.account_pension[:2], [(500 * JUNE_2014 + 12 * lowest) / 139, (200 * JUNE_2014 + 14 * lowest) / 139]
    )


def test_declining_to_back_pay_leaves_the_resident_short_and_the_right_kept(baseline):
    """Only those deciding to back-pay pay the gap and retire; the books balance. A year later the
    resident who declined may back-pay the same gap and does not pay yearly."""
    policy = year_policy(baseline, 2014)  # 60 in 2014: 57 at launch
    pop = make_population(3, weight=W, age=60, years=[3, 1, 0], account=[500.0, 200.0, 0.0])
    fund = _open(pop, 2014)
    retiring = fund.retire(pop, policy, backpaying=np.array([True, False, True]))
    row = fund.close_year(pop)  # conserved
    lowest = policy.grades[0]
    np.testing.assert_array_equal(retiring, [True, False, False])  # never paid: nothing to back-pay
    np.testing.assert_array_equal(pop.pensioner, [True, False, False])
    np.testing.assert_array_equal(pop.years, [15, 1, 0])
    np.testing.assert_allclose(pop.account, [500 * 1.0275 + 12 * lowest * JUNE_2014, 200 * 1.0275, 0])
    assert row["backpayments"] == pytest.approx(12 * lowest * W)
    pop.age += 1
    later = year_policy(baseline, 2015)
    np.testing.assert_array_equal(backpay_gap(pop, later), [0, 14, 0])
    assert not eligible_to_contribute(pop, later)[1]


def test_pension_is_basic_plus_balance_over_139_at_60(baseline):
    """Account pension = balance at the start of July (half a year's interest accrued) / 139; basic =
    national minimum + top-up + bonus per year beyond 15."""
    scenario = with_policy(baseline, local_top_up={2011: 10.0}, long_contribution_bonus={2011: 2.0})
    policy = year_policy(scenario, 2040, basic_pension=150.0)
    pop = make_population(2, weight=W, age=60, years=[15, 20], account=[13_900.0, 27_800.0])
    Fund(W).retire(pop, policy)
    np.testing.assert_allclose(pop.account_pension, [100.0 * HALF_2040, 200.0 * HALF_2040])
    np.testing.assert_allclose(monthly_account_pension(pop.account, policy), [100.0, 200.0])
    np.testing.assert_allclose(monthly_basic_pension(policy, pop.years), [150 + 10, 150 + 10 + 2 * 5])


def test_retiring_late_for_want_of_years_keeps_the_divisor_of_the_pension_age(baseline):
    """A resident who reaches 15 years only at 61 (pension age 60) divides by 139, the divisor of
    the pension age in force, not by the table's value for 61 (131.4)."""
    policy = year_policy(baseline, 2040)
    pop = make_population(2, age=[61, 62], years=15, account=[13_900.0, 12_380.0])
    Fund(1.0).retire(pop, policy)
    np.testing.assert_allclose(pop.account_pension, np.array([13_900.0 / 139, 12_380.0 / 139]) * HALF_2040, rtol=1e-12)


def test_a_later_pension_age_uses_its_own_divisor(baseline):
    """With pension age 62 in force the divisor is 139 + 2/5 * (101 - 139) months (the table
    interpolated between 60 and 65), for everyone whose pension starts that year."""
    scenario = with_policy(baseline, pension_age={2011: 60, 2040: 62})
    policy = year_policy(scenario, 2040)
    pop = make_population(2, age=[62, 64], years=[15, 20], account=12_380.0)
    Fund(1.0).retire(pop, policy)
    np.testing.assert_allclose(pop.account_pension, 12_380.0 * HALF_2040 / (139 - 38 * 2 / 5), rtol=1e-12)


def test_pay_splits_public_basic_pension_and_account_pension(baseline):
    """A year of pensions: 12 x basic from the budget (central/local), 12 x account pension from accounts,
    at the end of each month: each month's pension loses the interest to the end of the year."""
    scenario = with_policy(baseline, central_share=0.75, local_top_up={2011: 10.0}, long_contribution_bonus={2011: 2.0})
    policy = year_policy(scenario, 2040, basic_pension=100.0)
    pop = make_population(
        2, weight=W, age=70, pensioner=True, years=[15, 18], account=[5000.0, 5000.0], account_pension=[20.0, 30.0]
    )
    fund = _open(pop, 2040)
    fund.pay(pop, policy)
    row = fund.close_year(pop)
    np.testing.assert_allclose(pop.account, [5000 * 1.015 - 20 * YEAR_2040, 5000 * 1.015 - 30 * YEAR_2040])
    assert row["interest"] == pytest.approx((2 * 75 - 50 * 0.015 * 5.5) * W)
    assert row["account_pensions"] == pytest.approx(600 * W)
    assert row["public_basic_pension_central"] == pytest.approx(12 * 100 * 2 * 0.75 * W)
    assert row["public_basic_pension_local"] == pytest.approx((12 * 100 * 2 * 0.25 + 12 * 10 * 2) * W)
    assert row["public_bonus"] == pytest.approx(12 * 2 * 3 * W)


def test_exhausted_account_is_paid_from_public_money(baseline):
    """When the account cannot pay a year's pension, the shortfall is public spending; never negative.
    The account worth 500 x 1.015 = 507.5 at the end of 2040 pays that share of each month's pension
    that the year's pensions, 100 x 12.0825 at the year's end, exceed it by; public money the rest."""
    policy = year_policy(baseline, 2040)
    pop = make_population(
        2, weight=W, age=75, pensioner=True, years=15, account=[500.0, 5000.0], account_pension=[100.0, 100.0]
    )
    fund = _open(pop, 2040)
    fund.pay(pop, policy)
    row = fund.close_year(pop)
    share = 507.5 / (100 * YEAR_2040)
    np.testing.assert_allclose(pop.account, [0.0, 5000 * 1.015 - 100 * YEAR_2040], atol=1e-9)
    assert row["account_pensions"] == pytest.approx((share * 1200 + 1200) * W)
    assert row["public_after_exhaustion"] == pytest.approx((1 - share) * 1200 * W)
    assert (pop.account >= 0).all()


def test_dead_residents_balances_leave_the_fund_as_inheritance(baseline):
    """From 2014 the whole remaining balance, subsidies included, is inherited; the books still balance."""
    pop = make_population(4, weight=W, account=[100.0, 200.0, 300.0, 400.0], account_subsidy=[30.0, 60.0, 0, 90.0])
    fund = _open(pop, 2020)
    dead = np.array([False, True, False, True])
    fund.bequeath(pop, dead, year_policy(baseline, 2020))
    pop.keep(~dead)
    row = fund.close_year(pop)
    assert row["inheritance"] == pytest.approx(600 * W)
    assert row["returned_subsidies"] == 0
    assert row["closing_balance"] == pytest.approx(400 * W)


def test_2013_death_returns_the_subsidy_part_to_public_money(baseline):
    """Guofa [2009] No. 32: until 2014 heirs get the balance less the government's subsidies. A
    resident paid 100 with the 30 subsidy in July 2011 and June 2012 and dies in 2013: the subsidy
    part is 30 x (1 + 3.5% x 5/12) x 1.03 (2012) x 1.03 (2013) + 30 x (1 + 3% x 6/12) x 1.03, the rest
    is inherited."""
    pop = make_population(1, weight=W)
    policies = {year: year_policy(baseline, year) for year in (2011, 2012, 2013)}
    for year in (2011, 2012):
        fund = _open(pop, year)
        fund.collect(pop, np.array([0]), np.array([100.0]), np.array([False]), policies[year])
        fund.close_year(pop)
    fund = _open(pop, 2013)
    fund.collect(pop, np.array([], dtype=int), np.array([]), np.array([], dtype=bool), policies[2013])  # interest
    fund.credit_interest(pop)  # at the end of 2013, before the death
    paid = (1 + 0.035 * 5 / 12) * 1.03 * 1.03 + (1 + 0.03 * 6 / 12) * 1.03
    subsidy_part, balance = 30 * paid, 130 * paid
    assert pop.account[0] == pytest.approx(balance, rel=1e-12)
    fund.bequeath(pop, np.array([True]), policies[2013])
    pop.keep(np.array([False]))
    row = fund.close_year(pop)
    assert row["returned_subsidies"] == pytest.approx(subsidy_part * W, rel=1e-12)
    assert row["inheritance"] == pytest.approx((balance - subsidy_part) * W, rel=1e-12)
    assert row["closing_balance"] == 0


def test_the_subsidy_part_shrinks_with_the_account_as_the_pension_is_paid(baseline):
    """A pensioner whose account pays a year's pension keeps the subsidy share of what is left:
    1000 x 1.015 - 50 x 12.0825 remains, a quarter of it the subsidy part."""
    policy = year_policy(baseline, 2040)
    pop = make_population(
        1, age=70, pensioner=True, years=15, account=1000.0, account_subsidy=250.0, account_pension=50.0
    )
    fund = _open(pop, 2040)
    fund.pay(pop, policy)
    fund.close_year(pop)
    assert pop.account[0] == pytest.approx(1015 - 50 * YEAR_2040)
    assert pop.account_subsidy[0] == pytest.approx(0.25 * (1015 - 50 * YEAR_2040))


def test_launch_year_pays_six_months_of_pensions(baseline):
    """Qi County launched in July 2011: 2011 pays the 55-yuan basic pension and the account pension
    for six months, 2012 for twelve."""
    pop = make_population(1, weight=W, age=70, pensioner=True, years=0, account=600.0, account_pension=10.0)
    fund = _open(pop, 2011)
    fund.pay(pop, year_policy(baseline, 2011))
    row = fund.close_year(pop)
    assert row["public_basic_pension_central"] == pytest.approx(6 * 55 * W)
    assert row["account_pensions"] == pytest.approx(6 * 10 * W)
    fund = _open(pop, 2012)
    fund.pay(pop, year_policy(baseline, 2012))
    assert fund.close_year(pop)["public_basic_pension_central"] == pytest.approx(12 * 55 * W)


def test_mid_year_rise_pays_each_month_at_its_amount(baseline):
    """The 2014 rise to 70 yuan applied from 1 July: 6 x 55 + 6 x 70 in 2014, 12 x 70 in 2015."""
    pop = make_population(1, weight=W, age=70, pensioner=True)
    for year, expected in ((2014, 6 * 55 + 6 * 70), (2015, 12 * 70)):
        fund = _open(pop, year)
        fund.pay(pop, year_policy(baseline, year))
        assert fund.close_year(pop)["public_basic_pension_central"] == pytest.approx(expected * W)


def test_close_year_detects_accounts_changed_behind_the_ledger(baseline):
    """Money that appears in accounts without a ledger entry is a FundImbalance."""
    pop = make_population(2, weight=W, account=[100.0, 100.0])
    fund = _open(pop, 2020)
    pop.account[0] += 1.0
    with pytest.raises(FundImbalance):
        fund.close_year(pop)


@pytest.mark.parametrize(
    "revision",
    [None, GradeRevision(every=2, first_year=2014, base_year=2012)],
    ids=["dated grades", "grades revised with income"],
)
def test_fund_is_conserved_every_year_of_a_model_run(small_scenario, revision):
    """opening + inflow - outflow == closing for every ledger row; each year opens where the last closed;
    the accounts of the dead leave as inheritance or returned subsidies. With grades and subsidies
    revised every two years (a grade no dated list has is offered), too."""
    model = PensionModel(
        scenario=with_policy(small_scenario, grade_revision=revision).model_copy(update={"end_year": 2020})
    )
    dated = {g for grades in small_scenario.policy.grades.values() for g in grades}
    assert (set(model.all_grades) > dated) == (revision is not None)
    dead_accounts, bequeath = [], model.fund.bequeath

    def recording(pop, dead, policy):
        model.fund.credit_interest(pop)  # the estate inherits the balance at the end of the year
        dead_accounts.append(float(pop.account[dead].sum()) * pop.weight)
        bequeath(pop, dead, policy)

    model.fund.bequeath = recording
    while model.running:
        model.step()
    ledger = model.fund.ledger
    assert [row["year"] for row in ledger] == list(range(2011, 2021))
    assert ledger[0]["opening_balance"] == 0
    for row in ledger:
        inflow = sum(
            row[k] for k in ("contributions", "entry_subsidies", "government_contributions", "backpayments", "interest")
        )
        outflow = sum(row[k] for k in ("account_pensions", "inheritance", "returned_subsidies", "transfers_out"))
        assert row["opening_balance"] + inflow - outflow == pytest.approx(row["closing_balance"], rel=1e-9)
    for before, after in itertools.pairwise(ledger):
        assert after["opening_balance"] == before["closing_balance"]
    assert ledger[-1]["closing_balance"] == pytest.approx(
        model.population.account.sum() * model.population.weight, rel=1e-12
    )
    assert all(row[k] > 0 for row in ledger[1:] for k in ("contributions", "interest"))
    # whether anyone dies with money in the account in a year of 2,000 residents is chance
    assert [row["inheritance"] + row["returned_subsidies"] for row in ledger] == pytest.approx(dead_accounts)
    assert sum(dead_accounts) > 0


def test_a_late_payers_year_by_hand(baseline):
    """62 in 2040 with 14 years (no right to back-pay: 33 at launch) and 2,000 yuan: pays 300 + 30 at
    the end of June, has 15 years and starts the pension in July, fixed on 2,000 x (1 + 1.5% x 6/12)
    + 330 (no interest on the June payment yet); pensions are paid at the end of July-December and
    the year's interest is credited at its end: 2,000 x 1.5% + 330 x 1.5% x 6/12 less the interest
    the six pensions would have earned, 1.5% x (5 + 4 + 3 + 2 + 1 + 0) / 12 each."""
    policy = year_policy(with_policy(baseline, grade_revision=None), 2040)  # the 2014 list kept: 300 + 30
    pop = make_population(1, weight=W, age=62, years=14, account=2000.0)
    fund = _open(pop, 2040)
    fund.collect(pop, np.array([0]), np.array([300.0]), np.array([False]), policy)
    assert fund.retire(pop, policy)[0]
    pension = (2000 * HALF_2040 + 330) / 139
    assert pop.account_pension[0] == pytest.approx(pension, rel=1e-12)
    fund.pay(pop, policy)
    row = fund.close_year(pop)
    interest = 2000 * 0.015 + 330 * 0.015 * 6 / 12 - pension * 0.015 * 15 / 12
    assert row["interest"] == pytest.approx(interest * W, rel=1e-12)
    assert row["account_pensions"] == pytest.approx(6 * pension * W, rel=1e-12)
    assert row["public_basic_pension_central"] == pytest.approx(6 * 143 * W)  # July-December
    assert pop.account[0] == pytest.approx(2000 + 330 + interest - 6 * pension, rel=1e-12)
    # the resident's lifetime: own money paid in June, the pensions received from July, in yuan at the year's end
    assert pop.pv_own[0] == pytest.approx(300 * HALF_2040 * fund.discount.factor, rel=1e-12)
    assert row["public_basic_pension_local"] == pytest.approx(6 * 20 * W)  # Shanxi's top-up
    received = (143 + 20 + pension) * (6 + 0.015 * 15 / 12) * fund.discount.factor
    assert pop.pv_basic[0] + pop.pv_account[0] == pytest.approx(received, rel=1e-12)


def test_a_backpayers_year_by_hand(baseline):
    """60 in 2014 with 3 years and 500 yuan: back-pays 12 x 100 at the start of July, the pension is
    fixed then on 500 x (1 + 2.75% x 6/12) + 1,200 and paid at the end of July-December with the
    basic pension of 70 (from July 2014); the account at the end of the year holds 500 x 1.0275 +
    1,200 x (1 + 2.75% x 6/12) less the six pensions with the interest they would have earned."""
    policy = year_policy(baseline, 2014)
    pop = make_population(1, weight=W, age=60, years=3, account=500.0)
    fund = _open(pop, 2014)
    fund.collect(pop, np.array([], dtype=int), np.array([]), np.array([], dtype=bool), policy)  # not eligible
    assert fund.retire(pop, policy)[0]
    pension = (500 * JUNE_2014 + 1200) / 139
    assert pop.account_pension[0] == pytest.approx(pension, rel=1e-12)
    fund.pay(pop, policy)
    row = fund.close_year(pop)
    assert row["backpayments"] == pytest.approx(1200 * W)
    assert row["public_basic_pension_central"] == pytest.approx(6 * 70 * W)
    assert pop.account[0] == pytest.approx(
        500 * 1.0275 + 1200 * JUNE_2014 - pension * (6 + 0.0275 * 15 / 12), rel=1e-12
    )
