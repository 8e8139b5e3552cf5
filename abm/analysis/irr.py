"""Money's worth of a grade for one resident: pension, internal rate of return, replacement rate.

The resident pays grade G every year from entry age A for N years and draws basic + account
pension for life from the pension age in force (later only while short of the minimum years,
which they keep paying: then from the year of the last payment). The account pension divides the
balance by the divisor of the pension age in force when it starts. The launch cohort's route
(``backpay``): a resident with fewer than the minimum years to go to the pension age at launch pays
yearly until the pension age, then back-pays the gap at the lowest grade without subsidy. Money
moves at the months of abm/sim/timing.py (contributions in the collection month, the pension monthly
from its first month, the back-payment at its start, interest credited at the end of the year),
and the rate of return is the yearly rate under that convention. Flows are weighted by the chance
of being alive at the start of the year; at death (at the end of the year) the remaining account
goes to the heirs. The same policy, account and pension rules as the simulation are used;
combinations the rules forbid are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from abm.infra.errors import UserError
from abm.inputs.county import load_county
from abm.inputs.dated import last_year
from abm.inputs.scenario import Scenario
from abm.sim import timing
from abm.sim.demography import SEXES, LifeTable
from abm.sim.economy import Economy
from abm.sim.fund import MONTHS, monthly_account_pension, monthly_basic_pension, yearly_basic_pension
from abm.sim.policy import YearPolicy, basic_pension_path, policy_for_year

LAST_AGE = 105


@dataclass(frozen=True)
class MoneyWorth:
    grade: int
    entry_age: int
    years: int  # years paid at the grade
    start_year: int
    retirement_age: int
    backpaid_years: int  # years back-paid at the lowest grade when the pension starts
    monthly_account_pension: float  # yuan/month at retirement
    monthly_pension: float  # basic + account, yuan/month at retirement
    irr: float  # per year, on the resident's own contributions (abm/sim/timing.py)
    replacement_rate: float  # yearly pension / mean rural income in the retirement year

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def latest_policy_year(scenario: Scenario) -> int:
    """The most recent year any policy value is dated (the policy 'in force now')."""
    policy = scenario.policy
    dated = [
        policy.grades,
        policy.subsidy,
        policy.basic_pension,
        policy.interest_rate,
        policy.pension_age,
        policy.local_top_up,
    ]
    return max(last_year(values) for values in dated)


def money_worth(
    scenario: Scenario,
    grade: int,
    entry_age: int,
    years: int | None = None,
    start_year: int | None = None,
    sex: str | None = None,
    backpay: bool = False,
) -> MoneyWorth:
    """Pension and rate of return of paying ``grade`` yuan/year from ``entry_age`` in ``start_year``.

    Args:
        grade: yuan/year, a grade offered in the start year.
        entry_age: age at the first contribution, years.
        years: contribution years (default: until the pension age, at least the minimum years; with
            ``backpay``, until the pension age).
        start_year: year of the first contribution (default: the latest dated policy year; with
            ``backpay``, the launch year).
        sex: survival of one sex ("female", "male"); default both averaged.
        backpay: the launch cohort's route (pay yearly, back-pay the gap at the pension age).
    """
    policy_spec = scenario.policy
    default_start = policy_spec.launch_year if backpay else latest_policy_year(scenario)
    start = default_start if start_year is None else start_year
    if start_year is None and start > scenario.end_year:  # the scenario's years, not an option, are at fault
        raise UserError(
            f"the scenario ends in {scenario.end_year}, before its latest policy year {start}, where the "
            f"first contribution falls by default; give --year {policy_spec.launch_year}-"
            f"{scenario.end_year}, or a scenario running to {start} or later",
            file=scenario.source_file,
            field="end_year",
        )
    if not policy_spec.launch_year <= start <= scenario.end_year:
        raise UserError(
            f"the first contribution year must lie within the scenario's policy years "
            f"{policy_spec.launch_year}-{scenario.end_year} (got {start})",
            field="--year",
        )
    county = load_county(scenario)
    life = LifeTable.for_county(county)
    horizon = range(start, start + LAST_AGE - entry_age + 1)
    economy = Economy(county.rural_income, scenario.economy, policy_spec.launch_year - 1, horizon[-1])
    basic = basic_pension_path(policy_spec, economy, horizon)
    policies = [policy_for_year(policy_spec, year, basic[year], economy) for year in horizon]
    ages = np.arange(entry_age, LAST_AGE + 1)

    if grade not in policies[0].grades:
        raise UserError(
            f"grade {grade} is not offered in {start}; allowed: {', '.join(str(int(g)) for g in policies[0].grades)}",
            field="--grade",
        )
    years, retirement, gap = _schedule(policies, ages, years, backpay, entry_age, start)
    paid = grades_paid(policies[:years], grade, economy)

    qx = life.qx.mean(axis=0) if sex is None else life.qx[SEXES.index(sex)]
    alive = np.concatenate([[1.0], np.cumprod(1 - qx[ages])[:-1]])  # at the start of each year
    dying = alive * qx[ages]  # during each year

    # per year: the resident's own money, the pension received while alive, each with its timed part
    # (times the share of the year left, abm/sim/timing.py), and the account left to heirs if dying that year
    own, own_timed, pension, pension_timed, bequest = (np.zeros(ages.size) for _ in range(5))
    principal, monthly_account, total_years = 0.0, 0.0, years + gap
    for t, policy in enumerate(policies):
        rate = policy.interest_rate
        interest = principal * rate  # on the opening balance, to the end of the year
        if t < years:
            subsidy = policy.subsidies[np.searchsorted(policy.grades, paid[t])]
            left = timing.remaining(timing.collection_month(policy))
            own[t], own_timed[t] = paid[t], paid[t] * left
            principal += paid[t] + subsidy
            interest += (paid[t] + subsidy) * rate * left
        if t == retirement:  # as in the simulation: the back-payment, then the pension is fixed on the balance
            fixed_at = timing.backpay_month(policy)
            left = timing.remaining(fixed_at)
            backpaid = gap * policy.lowest_grade  # no subsidy on back-payments
            own[t] += backpaid
            own_timed[t] += backpaid * left
            principal += backpaid
            interest += backpaid * rate * left
            monthly_account = float(
                monthly_account_pension(timing.balance_at(principal, interest, rate, fixed_at), policy)
            )
        value = principal + interest  # at the end of the year, before its pensions
        if t >= retirement:
            first = timing.pension_start_month(policy) if t == retirement else timing.first_paid_month(policy)
            months, timed = timing.stream(np.ones(MONTHS), first)
            basic, basic_timed = yearly_basic_pension(policy, total_years, first)
            pension[t] = float(basic) + months * monthly_account
            pension_timed[t] = float(basic_timed) + timed * monthly_account
            share = float(timing.account_share(value, monthly_account, months, timed, rate))
            value -= share * monthly_account * (months + rate * timed)
        principal = bequest[t] = max(value, 0.0)

    flows = alive * (pension - own) + dying * bequest
    timed_flows = alive * (pension_timed - own_timed)
    at_retirement = policies[retirement]
    monthly_pension = float(monthly_basic_pension(at_retirement, total_years)) + monthly_account
    return MoneyWorth(
        grade,
        entry_age,
        years,
        start,
        entry_age + retirement,
        gap,
        monthly_account,
        monthly_pension,
        _irr(flows, timed_flows),
        MONTHS * monthly_pension / economy.mean_income(at_retirement.year),
    )


def grades_paid(policies: list[YearPolicy], grade: float, economy: Economy) -> np.ndarray:
    """The grade paid in each year of ``policies``, yuan/year: ``grade`` while the year's list offers
    it; once a list does not (a redesign, a revision with income), the offered grade nearest, as a
    ratio, to last year's grade moved with mean rural income."""
    paid, current = np.zeros(len(policies)), float(grade)
    for t, policy in enumerate(policies):
        if current not in policy.grades:
            moved = current * (1 + economy.income_growth(policy.year))
            current = float(policy.grades[np.argmin(np.abs(np.log(policy.grades / moved)))])
        paid[t] = current
    return paid


def _schedule(
    policies: list[YearPolicy], ages: np.ndarray, years: int | None, backpay: bool, entry_age: int, start: int
) -> tuple[int, int, int]:
    """Years paid, the year index the pension starts and the years back-paid then; a UserError
    naming the option for a combination the rules forbid."""
    first = policies[0]
    reached = [int(t) for t in np.flatnonzero(ages[: len(policies)] >= [p.pension_age for p in policies])]
    if not reached:
        raise UserError(f"entry age {entry_age} never reaches the pension age before {LAST_AGE}", field="--entry-age")
    if entry_age >= first.pension_age:
        raise UserError(
            f"residents join before the pension age ({first.pension_age} in {start}); got entry age {entry_age}",
            field="--entry-age",
        )
    to_pension_age = reached[0]  # years from entry until the pension age in force
    if backpay:
        age_at_launch = entry_age - (start - first.launch_year)
        if not first.backpay:
            raise UserError("the scenario gives no right to back-pay (policy.backpay is false)", field="--backpay")
        if age_at_launch <= first.launch_pension_age - first.min_years:
            raise UserError(
                f"back-paying is for residents with fewer than {first.min_years} years to the pension "
                f"age at launch (older than {first.launch_pension_age - first.min_years} in "
                f"{first.launch_year}); this resident was {age_at_launch}",
                field="--backpay",
            )
        years = to_pension_age if years is None else years
        if not 1 <= years <= to_pension_age:
            raise UserError(
                f"with --backpay the resident pays 1 to {to_pension_age} years (until the pension "
                f"age), then back-pays the gap; got {years}",
                field="--years",
            )
        return years, to_pension_age, max(first.min_years - years, 0)
    # the usual route: pay until the pension age, and beyond it only while short of the minimum years
    longest = max(to_pension_age, first.min_years)
    years = longest if years is None else years
    if years < first.min_years:
        raise UserError(
            f"a pension needs at least {first.min_years} contribution years (got {years}); "
            "--backpay gives the launch cohort's route",
            field="--years",
        )
    if years > longest:
        raise UserError(
            f"at most {longest} years from age {entry_age}: contributions stop at the pension age "
            f"once {first.min_years} years are paid (got {years})",
            field="--years",
        )
    if entry_age + years > LAST_AGE - 1:
        raise UserError(f"entry age {entry_age} + {years} years passes age {LAST_AGE}", field="--years")
    retirement = next(t for t in reached if t >= years - 1)  # in the year of the last payment at the earliest
    return years, retirement, 0


def _irr(flows: np.ndarray, timed: np.ndarray) -> float:
    """The yearly rate that makes the flows' present value zero (NaN if there is none): year t's
    flows are worth flows[t] + rate x timed[t] at its end (simple interest within the year,
    abm/sim/timing.py), discounted (1 + rate)^-t."""
    t = np.arange(flows.size)

    def npv(rate: float) -> float:
        return float(np.sum((flows + rate * timed) / (1 + rate) ** t))

    low, high = -0.5, 5.0
    if np.sign(npv(low)) == np.sign(npv(high)):
        return float("nan")
    return float(brentq(npv, low, high, xtol=1e-10))
