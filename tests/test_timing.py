"""When in the year money moves: the months, the factors to the year's end, the balance at a month."""

from __future__ import annotations

import numpy as np
import pytest

from abm.infra.errors import UserError
from abm.inputs.loader import load_scenario
from abm.sim import timing
from helpers import BASELINE, with_policy, year_policy


def test_share_of_the_year_left_and_growth_to_its_end():
    """Money moved at the end of June has half the year left; of December, none; 100 yuan at 3% is
    worth 101.5 at the end of the year (simple interest within the year)."""
    assert timing.remaining(6) == 0.5 and timing.remaining(12) == 0.0 and timing.remaining(0) == 1.0
    np.testing.assert_allclose(timing.remaining(np.array([1, 9])), [11 / 12, 3 / 12])
    assert timing.grown(100.0, 0.03, timing.remaining(6)) == pytest.approx(101.5)


def test_a_stream_of_monthly_amounts():
    """Ten yuan a month from July: 60 in total, timed 10 x (5 + 4 + 3 + 2 + 1 + 0) / 12 = 12.5; a
    whole year of one yuan is worth 12 + 5.5 r at the year's end; the factor of a start month is the
    stream's value."""
    by_month = np.full(12, 10.0)
    total, timed = timing.stream(by_month, 7)
    assert (total, timed) == (pytest.approx(60.0), pytest.approx(12.5))
    assert timing.months_factor(0.04) == pytest.approx(12 + 0.04 * 5.5)
    assert timing.months_factor(0.04, 7) == pytest.approx(6 + 0.04 * 15 / 12)
    assert 10 * timing.months_factor(0.04, 7) == pytest.approx(total + 0.04 * timed)
    # rows of amounts (national minimum, top-up, bonus): one total and one timed total per row
    totals, timeds = timing.stream(np.array([by_month, np.zeros(12), np.ones(12)]), 1)
    np.testing.assert_allclose(totals, [120, 0, 12])
    np.testing.assert_allclose(timeds, [55, 0, 5.5])


def test_collection_and_pension_months_by_year(baseline):
    """Baseline: collected in June, pensions start in July. Launch year 2011 (July): collected in July,
    a pension starting that year starts in August. Collected in September: pensions start in October;
    in December: with it, in December."""
    assert timing.collection_month(year_policy(baseline, 2014)) == 6
    assert timing.pension_start_month(year_policy(baseline, 2014)) == 7
    assert timing.backpay_month(year_policy(baseline, 2014)) == 6
    launch = year_policy(baseline, 2011)
    assert (timing.first_paid_month(launch), timing.collection_month(launch)) == (7, 7)
    assert timing.pension_start_month(launch) == 8
    assert timing.pension_start_month(year_policy(with_policy(baseline, collection_month=9), 2014)) == 10
    assert timing.pension_start_month(year_policy(with_policy(baseline, collection_month=12), 2014)) == 12
    assert timing.pension_start_month(year_policy(with_policy(baseline, collection_month=2), 2014)) == 7
    assert timing.start_month(3, first_paid=9) == 9


@pytest.mark.parametrize("month", [0, 13, 6.5])
def test_collection_month_must_be_a_month(month):
    with pytest.raises(UserError, match="collection_month"):
        load_scenario(BASELINE, [("policy.collection_month", month)])


def test_balance_at_a_month_from_principal_and_interest_to_the_year_end():
    """1,000 opening and 120 paid in March at 3%: interest to the year's end 30 + 120 x 3% x 9/12 =
    32.7; at the end of June the balance is 1,000 x (1 + 3% x 6/12) + 120 x (1 + 3% x 3/12) = 1,135.9."""
    principal, interest = 1120.0, 1000 * 0.03 + 120 * 0.03 * 9 / 12
    assert timing.balance_at(principal, interest, 0.03, 6) == pytest.approx(1000 * 1.015 + 120 * 1.0075)
    assert timing.balance_at(principal, interest, 0.03, 12) == pytest.approx(principal + interest)


def test_the_accounts_share_of_a_years_pensions():
    """An account worth 600 at the year's end pays half of twelve pensions of 100, worth 1,200 at 0%
    (public money the other half); one worth more pays all; none pays nothing."""
    share = timing.account_share(np.array([600.0, 5000.0, 0.0]), 100.0, 12, 5.5, 0.0)
    np.testing.assert_allclose(share, [0.5, 1.0, 0.0])
    at_rate = timing.account_share(np.array([600.0]), 100.0, 12, 5.5, 0.02)
    assert at_rate[0] == pytest.approx(600 / (100 * (12 + 0.02 * 5.5)))
