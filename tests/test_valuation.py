"""The actuarial valuation: present values of account pensions, the longevity gap, the funding ratio,
the basic-pension obligation, against hand-computed values on a tiny life table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from abm.sim.actuarial import COLUMNS, accrued_share, annuity_tables, pension_values, valuation
from abm.sim.demography import LifeTable
from helpers import make_population, year_policy

# Nobody dies before 60; half die at 60 and at 61; all at 62 (the last age).
QX = np.zeros((2, 63))
QX[:, 60], QX[:, 61], QX[:, 62] = 0.5, 0.5, 1.0
TINY = LifeTable(qx=QX)


def _values(rate: float, valuation_rate: float, balance: float = 1800.0, pension: float = 100.0):
    tables = annuity_tables(TINY, rate, valuation_rate)
    return pension_values(tables, np.array([60]), np.array([1]), np.array([balance]), np.array([pension]))


def test_no_interest_no_discount_counts_the_payments():
    """Pension 1,200 a year, balance 1,800, alive next year 1, then 0.5, 0.25. The account pays 1,200,
    then 600 (the rest, 600, from public money), then nothing (1,200 from public money); heirs of
    those dying next year (half) inherit 600."""
    values = _values(0.0, 0.0)
    assert values.gap[0] == pytest.approx(0.5 * 600 + 0.25 * 1200)
    assert values.liability[0] == pytest.approx(1200 * (1 + 0.5 + 0.25) + 0.5 * 600)


YEAR_10 = 100 * (12 + 0.10 * 5.5)  # twelve monthly pensions of 100 at the year's end at 10%: 1,255


def test_interest_and_discount_at_ten_percent():
    """r = v = 10%, pensions paid monthly (a year's worth 1,255 at its end): next year the balance
    grows to 1,980, pays the year's pensions, leaves 725 (inherited by the half who die); the year
    after it grows to 797.5 and pays that share of each month's pension, public money the rest
    (457.5 at the year's end); then public money pays them all. Year k's flows are valued at its end
    and discounted 1.1^-(k + 1)."""
    assert YEAR_10 == pytest.approx(1255)
    values = _values(0.10, 0.10)
    gap = 0.5 * (1255 - 797.5) / 1.1**2 + 0.25 * 1255 / 1.1**3
    assert values.gap[0] == pytest.approx(gap)
    pensions = 1255 / 1.1 + 0.5 * 1255 / 1.1**2 + 0.25 * 1255 / 1.1**3
    assert values.liability[0] == pytest.approx(pensions + 0.5 * 725 / 1.1)
    assert values.liability[0] == pytest.approx(1800 + gap)  # the balance pays exactly the account's part


def test_a_higher_valuation_rate_lowers_both_present_values():
    low, high = _values(0.0, 0.0), _values(0.0, 0.10)
    # without interest the account pays half of the second year's pensions, public money the other half
    assert high.gap[0] == pytest.approx(0.5 * 0.5 * YEAR_10 / 1.1**2 + 0.25 * YEAR_10 / 1.1**3)
    assert high.liability[0] < low.liability[0] and high.gap[0] < low.gap[0]


def test_an_account_that_outlives_the_pensioner_leaves_no_gap():
    values = _values(0.0, 0.0, balance=5000.0)
    assert values.gap[0] == 0.0
    # pensions 1,200 x 1.75 expected; heirs get 3,800, 2,600 or 1,400 after death in year 0, 1, 2
    assert values.liability[0] == pytest.approx(1200 * 1.75 + 0.5 * 3800 + 0.25 * 2600 + 0.25 * 1400)


def test_liability_is_assets_plus_gap_at_the_interest_rate_on_the_real_table():
    """At valuation rate = interest rate, for any pensioners: liability = balance + longevity gap."""
    life = LifeTable.from_csv()
    rng = np.random.default_rng(3)
    n = 500
    tables = annuity_tables(life, 0.025, 0.025)
    balance = rng.uniform(0, 40_000, n)
    values = pension_values(tables, rng.integers(60, 110, n), rng.integers(0, 2, n), balance, rng.uniform(1, 300, n))
    np.testing.assert_allclose(values.liability, balance + values.gap, rtol=1e-9)


def _one_pensioner_county(baseline, **policy_fields):
    pop = make_population(1, weight=7.0, age=60, sex=1, pensioner=True, account=1800.0, account_pension=100.0, years=15)
    policy = dataclasses.replace(year_policy(baseline, 2020), **policy_fields)
    return pop, policy


def test_funding_ratio_of_a_county_of_one_pensioner(baseline):
    pop, policy = _one_pensioner_county(baseline, interest_rate=0.10, valuation_rate=0.10)
    row = valuation(pop, policy, TINY, assets=1800.0 * 7, account_pensions=1200.0 * 7)
    gap = 0.5 * (1255 - 797.5) / 1.1**2 + 0.25 * 1255 / 1.1**3
    assert set(row) == set(COLUMNS)
    assert row["account_liability"] == pytest.approx(7 * (1800 + gap))
    assert row["funding_ratio"] == pytest.approx(1800 / (1800 + gap))
    assert row["longevity_gap"] == pytest.approx(7 * gap)
    assert row["reserve_ratio"] == pytest.approx(1.5)
    assert row["divisor_life_expectancy"] == pytest.approx(139 / 12)
    assert row["life_expectancy_at_pension_age"] == pytest.approx(0.5 + 0.25 + 0.5)
    basic = (12 + 0.10 * 5.5) * (policy.basic_pension + policy.local_top_up)
    assert row["basic_pension_obligation"] == pytest.approx(7 * basic * (1 / 1.1 + 0.5 / 1.1**2 + 0.25 / 1.1**3))


def test_contributors_count_their_balance_and_their_accrued_basic_pension(baseline):
    """A contributor aged 58 with 6 of 15 years has earned 40% of the basic pension, paid from July of
    the year of 60 (two years on: six months) to those alive: 1, 0.5, 0.25 at 60, 61, 62."""
    pop = make_population(1, age=58, account=900.0, years=6)
    policy = dataclasses.replace(year_policy(baseline, 2020), interest_rate=0.0, valuation_rate=0.0)
    row = valuation(pop, policy, TINY, assets=900.0, account_pensions=0.0)
    assert row["account_liability"] == pytest.approx(900.0)
    assert row["funding_ratio"] == pytest.approx(1.0)
    assert row["longevity_gap"] == 0.0
    assert row["reserve_ratio"] == 0.0  # no account pension paid: no ratio
    basic = policy.basic_pension + policy.local_top_up
    assert row["basic_pension_obligation"] == pytest.approx(0.4 * basic * (6 + 12 * 0.75))


def test_accrued_share_is_years_over_the_minimum_capped_at_one():
    np.testing.assert_allclose(accrued_share(np.array([0, 3, 15, 30]), 15), [0, 0.2, 1, 1])


def test_valuation_rate_defaults_to_the_interest_rate_and_may_be_set(baseline):
    from helpers import with_policy

    assert year_policy(baseline, 2020).valuation_rate == year_policy(baseline, 2020).interest_rate == 0.015
    dated = with_policy(baseline, valuation_rate={2011: 0.03, 2030: 0.02})
    assert year_policy(dated, 2020).valuation_rate == 0.03 and year_policy(dated, 2031).valuation_rate == 0.02


def test_tables_are_cached_per_life_table_and_rates():
    assert annuity_tables(TINY, 0.01, 0.02) is annuity_tables(TINY, 0.01, 0.02)
    assert annuity_tables(TINY, 0.01, 0.02) is not annuity_tables(TINY, 0.01, 0.03)
    with pytest.raises(ValueError, match="valuation_rate"):
        annuity_tables(TINY, 0.01, -1.5)


def test_a_valuation_rate_dated_after_launch_is_refused():
    from abm.infra.errors import UserError
    from abm.inputs.loader import load_scenario
    from helpers import BASELINE

    with pytest.raises(UserError, match="after launch_year") as err:
        load_scenario(BASELINE, ["policy.valuation_rate.2020=0.03"])
    assert "valuation_rate" in str(err.value)
