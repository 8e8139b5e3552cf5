"""What a year's payment buys: annuities and account factors by hand, against money_worth, pivotal weights, caching."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from abm.analysis.irr import money_worth
from abm.inputs.county import load_county
from abm.inputs.scenario import Indexation
from abm.sim.demography import LifeTable
from abm.sim.perceived_worth import (
    Expectations,
    backpay_worth,
    payment_values,
    perceived_worth,
    pivotal_weight,
    value_tables,
)
from helpers import with_policy, year_policy

FEMALE = 0


def constant_table(q: float, last_age: int = 105) -> LifeTable:
    """qx = q at every age below ``last_age``, 1 at it."""
    qx = np.full((2, last_age + 1), q)
    qx[:, -1] = 1.0
    return LifeTable(qx=qx)


@pytest.fixture(scope="module")
def county_life(baseline) -> LifeTable:
    return LifeTable.for_county(load_county(baseline))


@pytest.fixture(scope="module")
def policy(baseline):
    """2025: pension age 60, divisor 139, 1.5% interest, basic pension 143 yuan/month."""
    return year_policy(baseline, 2025)


def months_worth(delta: float, first: int = 1) -> float:
    """One yuan a month from month ``first`` to December, each at the end of its month, worth at the
    year's end at ``delta`` (simple within the year): sum over m of 1 + delta x (12 - m) / 12."""
    return sum(1 + delta * (12 - m) / 12 for m in range(first, 13))


def test_basic_annuity_at_the_pension_age_is_a_geometric_sum(policy):
    """At 60 (short of years, so this payment may be the 15th: drawing from July this year) with q = 2%,
    no growth, 3%: July-December, then 12 months a year to 105, valued at the payment in June."""
    assert months_worth(0.03, 7) == pytest.approx(6 + 0.03 * 15 / 12)
    assert months_worth(0.03) == pytest.approx(12 + 0.03 * 5.5)
    tables = value_tables(constant_table(0.02), policy, Expectations(discount_rate=0.03))
    x = 0.98 / 1.03
    at_june = 1 + 0.03 * 6 / 12
    by_hand = (months_worth(0.03, 7) + months_worth(0.03) * x * (1 - x**45) / (1 - x)) / at_june
    assert tables.basic_annuity[:, 60] == pytest.approx([by_hand, by_hand], rel=1e-12)
    # at 50 the same stream starts in July ten years on: survived and discounted 10 years
    assert tables.basic_annuity[FEMALE, 50] == pytest.approx(x**10 * by_hand, rel=1e-12)
    assert np.isnan(tables.basic_annuity[FEMALE, 15])


def test_basic_annuity_rises_with_growth_falls_with_discounting_and_with_youth(county_life, policy):
    """Higher expected growth: more; higher discount rate: less; at 30 less than at 55."""
    base = value_tables(county_life, policy, Expectations(0.04, 0.02)).basic_annuity
    growing = value_tables(county_life, policy, Expectations(0.04, 0.03)).basic_annuity
    impatient = value_tables(county_life, policy, Expectations(0.05, 0.02)).basic_annuity
    working = np.s_[:, 16:60]
    assert np.all(growing[working] > base[working])
    assert np.all(impatient[working] < base[working])
    assert np.all(base[:, 30] < base[:, 55])
    assert np.all(np.diff(base[:, 16:60], axis=1) > 0)  # nearer the pension (drawing from 60), worth more


def test_tables_reproduce_money_worth_at_its_irr(baseline, county_life, policy):
    """At the discount rate money_worth finds as the IRR of grade 1000 from 45 in 2025 (women), the
    basic pension (143 yuan/month growing with 2% prices, plus Shanxi's top-up of 20, not indexed) and
    the account bought by each year's
    1000 + 60 yuan (the 2025 grades and subsidies kept: the tables value one year's policy),
    valued with the tables, are worth exactly the contributions."""
    result = money_worth(with_policy(baseline, grade_revision=None), 1000, entry_age=45, sex="female")
    assert (result.start_year, result.years, result.retirement_age) == (2025, 15, 60)
    tables = value_tables(county_life, policy, Expectations(discount_rate=result.irr, basic_growth=0.02))
    ages = np.arange(45, 60)
    t = ages - 45
    alive = np.cumprod(np.concatenate([[1.0], 1 - county_life.qx[FEMALE, 45:59]]))
    discount = (1 + result.irr) ** -t
    paid = 1000.0 + policy.subsidies[list(policy.grades).index(1000)]
    assert paid == 1060
    contributions = np.sum(alive * discount * 1000.0)
    account = np.sum(alive * discount * paid * tables.account_factor[FEMALE, ages])
    level = value_tables(county_life, policy, Expectations(discount_rate=result.irr, basic_growth=0.0))
    basic = tables.basic_annuity[FEMALE, 45] * 143 + level.basic_annuity[FEMALE, 45] * policy.local_top_up
    assert account + basic == pytest.approx(contributions, rel=1e-7)
    assert account < contributions < account + basic


def account_by_hand(
    q: float,
    age: int,
    pension_age: int,
    divisor: float,
    rate: float,
    discount: float,
    last_age: int = 105,
    starts_now: bool = False,
    paid: int = 6,
    first: int = 7,
) -> float:
    """One yuan paid at the end of month ``paid`` at ``age``, followed year by year and month by month
    with a constant q (restating the rules): interest credited at the end of each year, simple within it;
    the pension from month ``first`` of the year of the pension age (this year at or past it), fixed at
    the start of that month on the balance with the interest accrued so far, paid at the end of each
    month; an account that cannot pay a year's pensions pays what its year-end value covers (public
    money the rest). ``starts_now``: a back-payment, paid at the start of month ``first`` with the
    pension fixed on it. Valued at ``discount`` (simple within a year) at the moment of the payment."""
    paid_at = first - 1 if starts_now else paid
    start = max(pension_age - age, 0)
    value, alive, opening, monthly = 0.0, 1.0, 0.0, 0.0
    for k in range(last_age - age + 1):
        dies = 1.0 if age + k == last_age else q
        principal, interest = opening, opening * rate  # interest to the end of the year
        if k == 0:
            principal += 1.0
            interest += rate * (12 - paid_at) / 12
        received = 0.0
        if k == start:
            accrued = interest - principal * rate * (12 - (first - 1)) / 12  # to the start of month first
            monthly = (principal + accrued) / divisor
        if k >= start:
            months = range(first if k == start else 1, 13)
            received = sum(monthly * (1 + discount * (12 - m) / 12) for m in months)
            due = sum(monthly * (1 + rate * (12 - m) / 12) for m in months)
            balance = max(principal + interest - due, 0.0)
        else:
            balance = principal + interest
        value += alive * (received + dies * balance) / (1 + discount) ** k
        opening = balance
        alive *= 1 - dies
    return value / (1 + discount * (12 - paid_at) / 12)


def test_account_factor_by_hand_and_a_later_pension_age(policy):
    """At 50 with q = 1%: pension at 60 on 139 months, or at 65 on 101 months (the divisor of 65), as by hand."""
    life, expectations = constant_table(0.01), Expectations(discount_rate=0.03)
    at_60 = value_tables(life, policy, expectations).account_factor[FEMALE, 50]
    later = replace(policy, pension_age=65)
    assert later.divisor == 101
    at_65 = value_tables(life, later, expectations).account_factor[FEMALE, 50]
    assert at_60 == pytest.approx(account_by_hand(0.01, 50, 60, 139, 0.015, 0.03), rel=1e-12)
    assert at_65 == pytest.approx(account_by_hand(0.01, 50, 65, 101, 0.015, 0.03), rel=1e-12)
    assert at_65 != pytest.approx(at_60, rel=1e-3)
    # past the pension age (short of years): the pension starts this year, in July
    assert value_tables(life, policy, expectations).account_factor[FEMALE, 62] == pytest.approx(
        account_by_hand(0.01, 62, 60, 139, 0.015, 0.03), rel=1e-12
    )


def test_account_factor_at_the_interest_rate_is_one_yuan_unless_the_account_runs_out(county_life, policy):
    """Discounted at the interest rate the account is worth what was paid in, pension plus
    inheritance, when everyone dies before it is exhausted (table closing at 64); living on after
    exhaustion (paid from public money) adds to it."""
    at_rate = Expectations(discount_rate=policy.interest_rate)
    short_lived = value_tables(constant_table(0.05, last_age=64), policy, at_rate).account_factor
    assert short_lived[:, 16:] == pytest.approx(np.ones((2, 64 - 15)), rel=1e-12)
    insured = value_tables(county_life, policy, at_rate).account_factor
    assert np.all(insured[:, 16:60] > 1)


def test_account_factor_rises_with_the_interest_rate(county_life, policy):
    expectations = Expectations(discount_rate=0.04)
    low = value_tables(county_life, policy, expectations).account_factor
    high = value_tables(county_life, replace(policy, interest_rate=0.025), expectations).account_factor
    assert np.all(high[:, 16:100] > low[:, 16:100])


def test_pivotal_weight_by_slack(policy):
    """No back-payment right: 1 without slack, exp(-slack / h) with it; 0 once the minimum years
    are paid (the payment adds no basic pension: aged 58 with 15 years, or 45 with 20); vectorised."""
    no_right = replace(policy, backpay=False)
    age = np.array([30, 30, 50, 58, 62, 45, 58, 59])
    years = np.array([0, 5, 2, 14, 10, 20, 15, 14])
    slack = np.array([30 - 15, 30 + 5 - 15, 10 + 2 - 15, 2 + 14 - 15, 10 - 15, 15 + 20 - 15, 2 + 15 - 15, 1 + 14 - 15])
    expected = np.where(years >= 15, 0.0, np.where(slack <= 0, 1.0, np.exp(-slack / 4.0)))
    assert pivotal_weight(age, years, no_right, horizon=4.0) == pytest.approx(expected, rel=1e-12)
    assert list(expected[[2, 4, 5, 6, 7]]) == [1.0, 1.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="horizon"):
        pivotal_weight(age, years, no_right, horizon=0.0)


def test_pivotal_weight_with_the_right_to_back_pay(baseline):
    """2011 (launch, pension age 60, 15 years): residents over 45 may back-pay. Paid once: 0; never
    paid: 1, even when a later pension age leaves them slack; residents under the rule: by slack."""
    launch = year_policy(baseline, 2011)
    age = np.array([50, 50, 46, 45, 40])
    years = np.array([0, 2, 1, 0, 0])
    assert list(pivotal_weight(age, years, launch, horizon=5.0)) == [1.0, 0.0, 0.0, 1.0, np.exp(-5 / 5.0)]
    raised = replace(year_policy(baseline, 2020), pension_age=75)  # 59 in 2020 was 50 at launch
    weight = pivotal_weight(np.array([59, 59]), np.array([0, 3]), raised, horizon=5.0)
    assert list(weight) == [1.0, 0.0]


def test_values_by_alternative(county_life, policy):
    """Not paying buys nothing; the basic value is the same for every grade; the account value
    rises with the grade and with the subsidy."""
    tables = value_tables(county_life, policy, Expectations(0.04, 0.02))
    age, sex, years = np.array([30, 50, 62]), np.array([0, 1, 0]), np.array([3, 4, 10])
    values = payment_values(tables, policy, age, sex, years, horizon=5.0)
    alternatives = 1 + policy.grades.size
    assert values.basic.shape == values.account.shape == (3, alternatives)
    assert np.all(values.basic[:, 0] == 0) and np.all(values.account[:, 0] == 0)
    weight = pivotal_weight(age, years, policy, 5.0)
    expected = weight * tables.basic_annuity[sex, age] * (policy.basic_pension + policy.local_top_up)
    assert values.basic[:, 1:] == pytest.approx(np.repeat(expected[:, None], alternatives - 1, axis=1), rel=1e-12)
    assert np.all(np.diff(values.account[:, 1:], axis=1) > 0)
    grade_3 = policy.grades[2] + policy.subsidies[2]
    assert values.account[1, 3] == pytest.approx(tables.account_factor[1, 50] * grade_3, rel=1e-12)
    richer = payment_values(tables, replace(policy, subsidies=policy.subsidies + 10), age, sex, years, 5.0)
    assert np.all(richer.account[:, 1:] > values.account[:, 1:])
    assert np.array_equal(richer.basic, values.basic)


def test_tables_are_cached_until_an_input_changes(county_life, policy):
    expectations = Expectations(0.04, 0.02)
    tables = value_tables(county_life, policy, expectations)
    assert value_tables(LifeTable(qx=county_life.qx.copy()), replace(policy, year=2026), expectations) is tables
    changed = value_tables(county_life, replace(policy, interest_rate=0.02), expectations)
    assert changed is not tables
    assert not np.allclose(changed.account_factor[:, 16:], tables.account_factor[:, 16:])
    assert value_tables(county_life.scaled(1.1), policy, expectations) is not tables
    assert value_tables(county_life, policy, Expectations(0.05, 0.02)) is not tables


def test_expectations_from_the_indexation_rule():
    """Growth = rate + income_share x income growth + price_share x inflation."""
    rule = Indexation(rate=0.01, income_share=0.5, price_share=1.0)
    expectations = Expectations.from_indexation(0.04, rule, income_growth=0.05, inflation=0.02)
    assert expectations == Expectations(0.04, 0.01 + 0.025 + 0.02)
    with pytest.raises(ValueError, match="discount_rate"):
        Expectations(discount_rate=-1.0)


# --- what residents perceive: the choice model's benefit factors --------------------------------


def _worth(tables, policy, age=40, years=10, income=10_000.0, trust=0.8, literate=True, horizon=5.0, gap=0.5):
    one = np.ones(1)
    return perceived_worth(
        tables,
        policy,
        one.astype(int) * age,
        one.astype(int) * FEMALE,
        one * years,
        one * income,
        one * trust,
        one.astype(bool) & literate,
        horizon,
        gap,
    )


def test_perceived_worth_by_hand(county_life, policy):
    """basic = trust x pivotal weight x annuity x (basic pension + top-up) / income; account = trust x
    (1, or 1 - gap without literacy) x account factor / income; both in yuan per yuan of income."""
    tables = value_tables(county_life, policy, Expectations(0.04))
    basic, account = _worth(tables, policy, age=40, years=10, income=12_000.0, trust=0.7, literate=False, gap=0.4)
    weight = math.exp(-(10 + 20 - 15) / 5.0)
    monthly = policy.basic_pension + policy.local_top_up
    assert monthly == 143 + 20
    assert basic[0] == pytest.approx(0.7 * weight * tables.basic_annuity[FEMALE, 40] * monthly / 12_000, rel=1e-12)
    assert account[0] == pytest.approx(0.7 * 0.6 * tables.account_factor[FEMALE, 40] / 12_000, rel=1e-12)


def test_the_value_of_paying_rises_with_the_basic_pension_interest_and_years_near_the_pension_age(
    baseline, county_life, policy
):
    expect = Expectations(0.04)
    tables = value_tables(county_life, policy, expect)
    richer = replace(policy, basic_pension=policy.basic_pension + 20)
    assert _worth(tables, richer)[0] > _worth(tables, policy)[0]
    topped = replace(policy, local_top_up=30.0)
    assert _worth(tables, topped)[0] > _worth(tables, policy)[0]
    higher_rate = replace(policy, interest_rate=0.03)
    assert _worth(value_tables(county_life, higher_rate, expect), higher_rate)[1] > _worth(tables, policy)[1]
    # near the pension age, short of years: every year is needed; young with slack: it can wait
    assert _worth(tables, policy, age=55, years=8)[0] > _worth(tables, policy, age=25, years=2)[0]
    assert _worth(tables, policy, age=55, years=10)[0] > _worth(tables, policy, age=50, years=14)[0]  # slack 0 vs 9


def test_misunderstanding_compounding_lowers_the_account_part_only(county_life, policy):
    tables = value_tables(county_life, policy, Expectations(0.04))
    knows, misses = _worth(tables, policy, literate=True), _worth(tables, policy, literate=False, gap=0.5)
    assert misses[1] == pytest.approx(0.5 * knows[1]) and misses[0] == knows[0]


def test_the_account_value_of_a_grade_rises_with_the_grade_and_its_subsidy():
    """The account term multiplies grade + subsidy (yuan paid in): more for a higher grade or subsidy."""
    from abm.sim.choice import alternative_factors

    flat = alternative_factors(np.array([100.0, 500.0]), np.array([30.0, 30.0]))["funded"]
    tiered = alternative_factors(np.array([100.0, 500.0]), np.array([30.0, 90.0]))["funded"]
    assert list(flat) == [0, 130, 530] and tiered[2] > flat[2] and tiered[1] == flat[1]


def test_probabilities_sum_to_one_with_the_benefit_terms(baseline, county_life, policy):
    from abm.inputs.coefficients import load_coefficients
    from abm.sim.choice import alternative_factors, probabilities, resident_factors, utilities

    rng = np.random.default_rng(3)
    n = 500
    tables = value_tables(county_life, policy, Expectations(0.04))
    age, years = rng.integers(16, 60, n), rng.integers(0, 20, n)
    income = rng.lognormal(9.5, 0.6, n)
    basic, account = perceived_worth(
        tables, policy, age, np.zeros(n, int), years, income, rng.random(n), rng.random(n) < 0.3, 5.0, 0.5
    )
    alternatives = alternative_factors(policy.grades, policy.subsidies)
    rows = {
        "age": age,
        "income": income,
        "awareness": rng.random(n),
        "trust": rng.random(n),
        "reliance": rng.random(n) < 0.5,
        "good_health": rng.random(n) < 0.8,
        "last_choice": np.zeros(n),
        "peer_share": np.zeros((n, policy.grades.size + 1)),
        "basic_worth": basic,
        "account_worth": account,
    }
    residents = resident_factors(rows, float(income.mean()), alternatives["value"])
    beta = load_coefficients("default").choice | {"basic_value": 0.5, "account_value": 0.8}
    p = probabilities(utilities(beta, residents, alternatives))
    assert np.allclose(p.sum(axis=1), 1.0) and (p >= 0).all()


def test_tables_of_a_pension_starting_now_by_hand(policy):
    """A back-payment's pension starts this year: paid at the start of July, the basic pension from
    July (at 60 with q = 2%, no growth: the same stream as a payment in June that starts it); the
    account pension is fixed on the yuan at once and paid from July, as by hand."""
    tables = value_tables(constant_table(0.02), policy, Expectations(discount_rate=0.03))
    x = 0.98 / 1.03
    by_hand = (months_worth(0.03, 7) + months_worth(0.03) * x * (1 - x**45) / (1 - x)) / (1 + 0.03 * 6 / 12)
    assert tables.basic_annuity_now[:, 60] == pytest.approx([by_hand] * 2, rel=1e-12)
    assert tables.basic_annuity_now[:, 60] == pytest.approx(tables.basic_annuity[:, 60], rel=1e-12)
    life, expectations = constant_table(0.01), Expectations(discount_rate=0.03)
    now = value_tables(life, policy, expectations).account_factor_now
    for age in (60, 64):
        assert now[FEMALE, age] == pytest.approx(
            account_by_hand(0.01, age, 60, 139, 0.015, 0.03, starts_now=True), rel=1e-12
        )
    # discounted at the interest rate, everyone dying before exhaustion: worth the yuan paid in
    at_rate = Expectations(discount_rate=policy.interest_rate)
    short_lived = value_tables(constant_table(0.05, last_age=64), policy, at_rate).account_factor_now
    assert short_lived[:, 60:] == pytest.approx(np.ones((2, 5)), rel=1e-12)


def test_a_later_collection_month_moves_the_payment_and_the_pension_start(baseline, policy):
    """Collected in September: the yuan is paid at the end of September and a pension starting this
    year starts in October; the tables follow (as by hand), and are not those of a June collection."""
    from helpers import with_policy, year_policy

    september = year_policy(with_policy(baseline, collection_month=9), 2025)
    life, expectations = constant_table(0.01), Expectations(discount_rate=0.03)
    tables = value_tables(life, september, expectations)
    for age in (50, 62):
        assert tables.account_factor[FEMALE, age] == pytest.approx(
            account_by_hand(0.01, age, 60, 139, 0.015, 0.03, paid=9, first=10), rel=1e-12
        )
    assert tables.account_factor_now[FEMALE, 61] == pytest.approx(
        account_by_hand(0.01, 61, 60, 139, 0.015, 0.03, starts_now=True, first=10), rel=1e-12
    )
    assert tables.account_factor[FEMALE, 50] != pytest.approx(
        value_tables(life, policy, expectations).account_factor[FEMALE, 50], rel=1e-6
    )


def test_backpay_worth_by_hand(county_life, policy):
    """basic = trust x annuity from now x (basic pension + top-up) / income; account = trust x (1, or
    1 - gap without literacy) x account factor from now / income; no pivotal weight (back-paying is
    what opens the pension)."""
    topped = replace(policy, local_top_up=10.0)
    tables = value_tables(county_life, topped, Expectations(0.04))
    basic, account = backpay_worth(
        tables,
        topped,
        np.array([60, 63]),
        np.array([FEMALE, 1]),
        np.array([8_000.0, 12_000.0]),
        np.array([0.5, 0.9]),
        np.array([True, False]),
        0.4,
    )
    np.testing.assert_allclose(
        basic,
        [
            0.5 * tables.basic_annuity_now[FEMALE, 60] * 153 / 8_000,
            0.9 * tables.basic_annuity_now[1, 63] * 153 / 12_000,
        ],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        account,
        [0.5 * tables.account_factor_now[FEMALE, 60] / 8_000, 0.9 * 0.6 * tables.account_factor_now[1, 63] / 12_000],
        rtol=1e-12,
    )
