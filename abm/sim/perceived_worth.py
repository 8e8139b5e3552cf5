"""What a year's payment buys: present values of basic- and account-pension rights by age, sex and years paid.

Under one year's policy: residents value the rights as if this year's rules (pension age, its
divisor, interest rate, collection month) stayed in force, discount at their own rate and weight
every flow by the chance of being alive (the county's life table). The accounting is that of
:mod:`abm.analysis.irr` for one yuan, with the timing of :mod:`abm.sim.timing`: the year's payment goes into
the account in the collection month; interest is credited at the end of each year (simple within
the year); the account pension is fixed in the month the pension starts, at the balance with the
interest accrued so far / divisor, and paid monthly for life (from public money once the account
is exhausted); whoever dies leaves the balance at the end of that year to the heirs. A resident
choosing below the pension age draws the pension from the year of the pension age; one choosing
at or past it (still short of years, so this payment may be the last one needed) from this year,
as in :mod:`abm.analysis.irr` and the simulation; either way from the pension's first month
(abm/sim/timing.py: pension_start_month). A back-payment (the launch cohort's, at or past the pension
age) is paid at the start of that month and starts the pension at once. Values are at the moment
of the payment, discounted at the residents' rate with the same timing (simple within a year,
compounded from year to year).

Left out on purpose: the long-contribution bonus, and the subsidy part that some years' rules do
not let heirs inherit (counted at full value).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from abm.inputs.scenario import Indexation
from abm.sim import timing
from abm.sim.demography import ENTRY_AGE, LifeTable, sex_age_cell, survival_paths
from abm.sim.policy import YearPolicy, may_backpay


@dataclass(frozen=True)
class Expectations:
    """How residents look ahead: their own discount rate and the growth they expect of the basic pension.

    Args:
        discount_rate: the residents' own rate of time preference, per year (> -1).
        basic_growth: expected yearly growth of the basic pension (and local top-up), per year (> -1).
    """

    discount_rate: float
    basic_growth: float = 0.0

    def __post_init__(self) -> None:
        for name in ("discount_rate", "basic_growth"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > -1):
                raise ValueError(f"{name} must be a finite rate above -1 per year, got {value}")

    @classmethod
    def from_indexation(
        cls, discount_rate: float, rule: Indexation, income_growth: float, inflation: float
    ) -> Expectations:
        """Expectations with the basic pension growing by the scenario's indexation rule.

        Args:
            discount_rate: the residents' own, per year.
            rule: the scenario's indexation of the basic pension (rate, income_share, price_share).
            income_growth: expected growth of mean rural income, per year.
            inflation: expected consumer-price inflation, per year.
        """
        return cls(discount_rate, expected_basic_growth(rule, income_growth, inflation))


def expected_basic_growth(rule: Indexation, income_growth: float, inflation: float) -> float:
    """Yearly growth of the basic pension the indexation rule gives: rate + income_share * g + price_share * pi.

    Args:
        rule: the scenario's indexation (rate per year, weights on income growth and inflation).
        income_growth: expected growth of mean rural income, per year.
        inflation: expected consumer-price inflation, per year.
    """
    return float(rule.rate + rule.income_share * income_growth + rule.price_share * inflation)


@dataclass(frozen=True, eq=False)
class ValueTables:
    """Present values at the moment of a payment this year at age ``a`` (alive then), per
    ``[sex, age]`` for ages 0..last age of the life table (NaN below 16, where nobody chooses).

    Attributes:
        basic_annuity: yuan per (yuan/month) of basic pension now, growing at the expected rate,
            received every month from the pension's first month in the year of the pension age (or
            this year, at or past it) for life; at the moment of a payment in the collection month.
        account_factor: yuan per yuan paid into the account in this year's collection month.
        basic_annuity_now, account_factor_now: the same for a pension starting this year, at the
            start of its first month, the moment a back-payment (:func:`backpay_worth`) is paid
            and the account pension is fixed on it.
    """

    basic_annuity: np.ndarray
    account_factor: np.ndarray
    basic_annuity_now: np.ndarray
    account_factor_now: np.ndarray
    pension_age: int
    divisor: float  # months
    interest_rate: float  # per year
    expectations: Expectations


def value_tables(life: LifeTable, policy: YearPolicy, expectations: Expectations) -> ValueTables:
    """The year's value tables; the same object again while life table, pension age, divisor,
    interest rate, the year's months (abm/sim/timing.py) and expectations are unchanged (a lookup of
    microseconds).

    Args:
        life: death probabilities qx[sex, age] (the county's life table).
        policy: the year's policy (its pension_age in years, divisor in months, interest_rate per
            year, collection month and months paid).
        expectations: the residents' discount rate and expected growth of the basic pension, per year.
    """
    qx = np.ascontiguousarray(life.qx, dtype=float)
    months = (
        timing.collection_month(policy),
        timing.pension_start_month(policy),
        timing.start_month(policy.collection_month),
    )
    return _tables(
        qx.tobytes(),
        qx.shape,
        int(policy.pension_age),
        float(policy.divisor),
        float(policy.interest_rate),
        months,
        expectations,
    )


@lru_cache(maxsize=64)
def _tables(
    qx_bytes: bytes,
    shape: tuple[int, int],
    pension_age: int,
    divisor: float,
    rate: float,
    months: tuple[int, int, int],
    expectations: Expectations,
) -> ValueTables:
    """``months``: this year's collection month, the pension's first month this year and in a later year."""
    qx = np.frombuffer(qx_bytes).reshape(shape)
    last_age = shape[1] - 1
    collected, start_now, start_later = months
    ages = np.arange(ENTRY_AGE, last_age + 1)  # age now
    k = np.arange(last_age - ENTRY_AGE + 1)  # years from now
    alive, q = survival_paths(qx, ages)  # [sex, age now, k]
    dying = alive * q
    delta = expectations.discount_rate
    discount = (1 + delta) ** -k.astype(float)  # the end of year k to the end of this year
    growth = (1 + expectations.basic_growth) ** k.astype(float)
    compound = (1 + rate) ** k.astype(float)
    saved = np.concatenate([[0.0], np.cumsum(compound)[:-1]])  # sum_{i<j} (1 + r)^i
    full_year = timing.months_factor(rate, 1) / divisor  # a full year's account pensions per yuan fixed

    def pension_values(start: np.ndarray, first: np.ndarray, paid: int) -> tuple[np.ndarray, np.ndarray]:
        """Basic annuity and account factor per yuan paid in month ``paid`` this year (0: at its start),
        the first pension ``start`` years from now in month ``first`` ([age now, 1] each)."""
        paid_left = timing.remaining(paid)
        fixed_left = timing.remaining(first - 1)  # the pension is fixed at the start of its month
        # the yuan with interest at the fix, and the account's value at the end of that year per yuan fixed
        # (the year's interest runs on the opening balance: simple within the year)
        opening = (1 + rate * paid_left) * (1 + rate) ** np.maximum(start - 1.0, 0.0)
        at_fix = np.where(start == 0, 1 + rate * (paid_left - fixed_left), opening * (1 + rate * (1 - fixed_left)))
        at_year_end = np.where(start == 0, 1 + rate * paid_left, opening * (1 + rate)) / at_fix
        first_year = at_year_end - timing.months_factor(rate, first) / divisor
        # balance per yuan fixed j years after the fix's year; from public money once exhausted (floored at 0)
        j = np.maximum(k[None, :] - start, 0)
        after_fix = np.maximum(first_year * compound[j] - full_year * saved[j], 0.0)
        drawing = k[None, :] >= start
        balance = np.where(drawing, at_fix * after_fix, (1 + rate * paid_left) * compound[None, :])
        months_worth = np.where(
            k[None, :] == start,
            timing.months_factor(delta, first),
            np.where(drawing, timing.months_factor(delta, 1), 0.0),
        )  # at delta, per yuan/month
        at_payment = discount / (1 + delta * paid_left)
        basic = (alive * months_worth * growth * at_payment).sum(axis=-1)
        pension = months_worth * at_fix / divisor
        return basic, ((alive * pension + dying * balance) * at_payment).sum(axis=-1)

    start = np.maximum(pension_age - ages, 0)[:, None]  # years until the first pension
    basic, account = pension_values(start, np.where(start == 0, start_now, start_later), collected)
    now = np.zeros((ages.size, 1), dtype=int)
    basic_now, account_now = pension_values(now, np.full((ages.size, 1), start_now), start_now - 1)

    def by_age(values: np.ndarray) -> np.ndarray:
        table = np.full(shape, np.nan)
        table[:, ENTRY_AGE:] = values
        table.flags.writeable = False
        return table

    return ValueTables(
        by_age(basic), by_age(account), by_age(basic_now), by_age(account_now), pension_age, divisor, rate, expectations
    )


def pivotal_weight(age: np.ndarray, years_paid: np.ndarray, policy: YearPolicy, horizon: float) -> np.ndarray:
    """How much of the basic pension this year's payment keeps within reach, 0-1.

    The basic pension is a right earned once: with the minimum years paid, this year's payment adds
    nothing to it (0). Otherwise slack = years paid + years to the pension age - minimum years: the
    years that could still be skipped. No slack (every remaining year needed, or past the pension
    age and short): 1; else exp(-slack / horizon). With the right to back-pay (policy.backpay, fewer
    than the minimum years to go at launch): 0 once paid (the right is secured: the back-payment
    replaces this year's), 1 before (paying once opens the right).

    Args:
        age: years, per resident.
        years_paid: contribution years so far, per resident.
        policy: the year's policy (pension_age, min_years, the back-payment right).
        horizon: years over which slack fades the weight, > 0 (behavioural).
    """
    if not horizon > 0:
        raise ValueError(f"horizon must be positive (years), got {horizon}")
    age, years_paid = np.asarray(age), np.asarray(years_paid)
    slack = years_paid + np.maximum(policy.pension_age - age, 0) - policy.min_years
    weight = np.exp(-np.maximum(slack, 0) / horizon)
    has_right = may_backpay(age, np.ones_like(years_paid), policy)  # the right, as it stands once paid
    weight = np.where(has_right, (years_paid == 0).astype(float), weight)
    return np.where(years_paid >= policy.min_years, 0.0, weight)


@dataclass(frozen=True)
class PaymentValues:
    """Per resident (rows) and alternative (column 0 not paying, then the year's grades), yuan."""

    basic: np.ndarray  # pivotal weight x basic annuity x (basic pension + local top-up)
    account: np.ndarray  # account factor x (grade + subsidy)


def payment_values(
    tables: ValueTables, policy: YearPolicy, age: np.ndarray, sex: np.ndarray, years_paid: np.ndarray, horizon: float
) -> PaymentValues:
    """What each alternative of the year buys each resident, in yuan (not per income, not trust-weighted).

    Args:
        tables: the year's value tables (:func:`value_tables` for this policy).
        policy: the year's policy (grades and subsidies in yuan/year, basic pension and local
            top-up in yuan/month).
        age: years, per resident (16 or older).
        sex: code 0 female, 1 male, per resident.
        years_paid: contribution years so far, per resident.
        horizon: years over which slack fades the pivotal weight, > 0.
    """
    basic_now, per_yuan = _rights(tables, policy, age, sex, years_paid, horizon)
    paid_in = np.concatenate([[0.0], policy.grades + policy.subsidies])
    basic = np.repeat(basic_now[:, None], paid_in.size, axis=1)
    basic[:, 0] = 0.0
    return PaymentValues(basic, per_yuan[:, None] * paid_in[None, :])


def _rights(
    tables: ValueTables, policy: YearPolicy, age: np.ndarray, sex: np.ndarray, years_paid: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per resident, in yuan: the basic pension this year's payment keeps within reach (pivotal
    weight x annuity x basic pension and top-up), and the account value of one yuan paid in."""
    age = np.minimum(np.asarray(age), tables.basic_annuity.shape[1] - 1)
    sex = np.asarray(sex)
    weight = pivotal_weight(age, years_paid, policy, horizon)
    cell = sex_age_cell(sex, age, tables.basic_annuity.shape[1])  # (once for both tables: the same shape)
    basic = weight * tables.basic_annuity.ravel()[cell] * (policy.basic_pension + policy.local_top_up)
    return basic, tables.account_factor.ravel()[cell]


def perceived_worth(
    tables: ValueTables,
    policy: YearPolicy,
    age: np.ndarray,
    sex: np.ndarray,
    years_paid: np.ndarray,
    income: np.ndarray,
    trust: np.ndarray,
    literate: np.ndarray,
    pivot_horizon: float,
    compounding_gap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The two benefit factors of the choice model per resident, as the resident perceives them, per
    yuan of income: the basic pension this year's payment keeps within reach (multiplies "pays
    some grade"), and what one yuan paid into the account is worth (multiplies grade + subsidy).
    Both are weighted by trust (the chance the promise is kept); residents who do not understand
    compound interest see the account part ``compounding_gap`` smaller.

    Args:
        tables: the year's value tables.
        policy: the year's policy (basic pension and local top-up in yuan/month).
        age, sex, years_paid: per resident (years; 0 female, 1 male; contribution years).
        income: per-capita household income, yuan/year.
        trust: trust in government, 0-1.
        literate: understands compound interest.
        pivot_horizon: years over which slack fades the pivotal weight, > 0.
        compounding_gap: share of the account's value missed without financial literacy, 0-1.
    Returns:
        (basic, account): yuan of value per yuan of income; yuan of value per yuan paid in and per
        yuan of income.
    """
    basic, per_yuan = _rights(tables, policy, age, sex, years_paid, pivot_horizon)
    seen = np.where(literate, 1.0, 1.0 - compounding_gap)
    return trust * basic / income, trust * seen * per_yuan / income


def backpay_worth(
    tables: ValueTables,
    policy: YearPolicy,
    age: np.ndarray,
    sex: np.ndarray,
    income: np.ndarray,
    trust: np.ndarray,
    literate: np.ndarray,
    compounding_gap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The two benefit factors of the back-payment decision per resident, as perceived, per yuan of
    income: the basic pension drawn from this year for life (what back-paying unlocks: fully
    pivotal, no slack), and what one yuan of the lump sum is worth as account pension starting this
    year. Trust and ``compounding_gap`` weigh them as in :func:`perceived_worth`.

    Args:
        tables: the year's value tables.
        policy: the year's policy (basic pension and local top-up in yuan/month).
        age, sex: per resident (years, at or past the pension age; 0 female, 1 male).
        income: per-capita household income, yuan/year.
        trust: trust in government, 0-1.
        literate: understands compound interest.
        compounding_gap: share of the account's value missed without financial literacy, 0-1.
    Returns:
        (basic, account): yuan of value per yuan of income; yuan of value per yuan back-paid and per
        yuan of income.
    """
    age = np.minimum(np.asarray(age), tables.basic_annuity_now.shape[1] - 1)
    sex = np.asarray(sex)
    basic = tables.basic_annuity_now[sex, age] * (policy.basic_pension + policy.local_top_up)
    seen = np.where(literate, 1.0, 1.0 - compounding_gap)
    return trust * basic / income, trust * seen * tables.account_factor_now[sex, age] / income
