"""Money's worth of a grade for one resident: pension, internal rate of return, replacement rate.

The resident pays grade G every year from entry age A, retires at pension age (or later, once
the minimum years are reached), and draws basic + account pension for life. Flows are weighted
by the chance of being alive; at death the remaining account goes to the heirs. The same policy,
account and pension rules as the simulation are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from abm.demography import SEXES, LifeTable
from abm.economy import Economy
from abm.errors import UserError
from abm.fund import MONTHS, credit, monthly_account_pension, monthly_basic_pension
from abm.policy import basic_pension_path, policy_for_year, subsidy_schedule
from abm.population import load_county
from abm.scenario import Scenario

LAST_AGE = 105


@dataclass(frozen=True)
class MoneyWorth:
    grade: int
    entry_age: int
    years: int
    start_year: int
    retirement_age: int
    monthly_account_pension: float   # yuan/month at retirement
    monthly_pension: float           # basic + account, yuan/month at retirement
    irr: float                       # per year, on the resident's own contributions
    replacement_rate: float          # yearly pension / mean rural income in the retirement year

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def latest_policy_year(scenario: Scenario) -> int:
    """The most recent year any policy value is dated (the policy 'in force now')."""
    policy = scenario.policy
    dated = [policy.grades, policy.subsidy, policy.basic_pension, policy.interest_rate,
             policy.pension_age, policy.local_top_up]
    return max(max(values) for values in dated)


def money_worth(scenario: Scenario, grade: int, entry_age: int, years: int | None = None,
                start_year: int | None = None, sex: str | None = None) -> MoneyWorth:
    """Pension and rate of return of paying ``grade`` yuan/year from ``entry_age``."""
    start = latest_policy_year(scenario) if start_year is None else start_year
    county = load_county(scenario)
    life = LifeTable.from_csv()
    horizon = range(start, start + LAST_AGE - entry_age + 1)
    economy = Economy(county["rural_income"], scenario.economy, start - 1, horizon[-1])
    basic = basic_pension_path(scenario.policy, economy, horizon)
    policies = [policy_for_year(scenario.policy, year, basic[year]) for year in horizon]

    pension_age = policies[0].pension_age
    if years is None:
        years = max(pension_age - entry_age, policies[0].min_years)
    if entry_age + years > LAST_AGE - 1:
        raise UserError(f"entry age {entry_age} + {years} years passes age {LAST_AGE}", field="--years")
    if grade not in policies[0].grades:
        raise UserError(f"grade {grade} is not offered in {start}; allowed: "
                        f"{', '.join(str(int(g)) for g in policies[0].grades)}", field="--grade")

    qx = life.qx.mean(axis=0) if sex is None else life.qx[SEXES.index(sex)]
    ages = np.arange(entry_age, LAST_AGE + 1)
    alive = np.concatenate([[1.0], np.cumprod(1 - qx[ages])[:-1]])   # at the start of each year
    dying = alive * qx[ages]                                            # during each year

    own = np.zeros(ages.size)           # the resident's contributions
    pension = np.zeros(ages.size)       # pension received while alive
    bequest = np.zeros(ages.size)       # account left to heirs if dying that year
    balance, monthly_account, retirement = 0.0, 0.0, entry_age + years
    for t, (age, policy) in enumerate(zip(ages, policies)):
        if age < retirement:
            subsidy = subsidy_schedule(zip(policy.grades, policy.subsidies), np.array([grade]))[0]
            own[t] = grade
            balance = credit(balance, policy.interest_rate, grade + subsidy)
        else:  # as in the simulation: the year's interest, then the pension is fixed and paid
            balance = credit(balance, policy.interest_rate, 0.0)
            if age == retirement:
                monthly_account = float(monthly_account_pension(balance, policy, age))
            balance -= min(balance, MONTHS * monthly_account)
            pension[t] = MONTHS * (monthly_basic_pension(policy, years) + monthly_account)
        bequest[t] = balance

    flows = alive * (pension - own) + dying * bequest
    at_retirement = policies[years]
    monthly_pension = float(monthly_basic_pension(at_retirement, years)) + monthly_account
    return MoneyWorth(grade, entry_age, years, start, retirement, monthly_account, monthly_pension,
                      _irr(flows), MONTHS * monthly_pension / economy.mean_income(at_retirement.year))


def _irr(flows: np.ndarray) -> float:
    """The rate that makes the flows' present value zero (NaN if there is none)."""
    t = np.arange(flows.size)

    def npv(rate: float) -> float:
        return float(np.sum(flows / (1 + rate) ** t))

    low, high = -0.5, 2.0
    if np.sign(npv(low)) == np.sign(npv(high)):
        return float("nan")
    return float(brentq(npv, low, high, xtol=1e-10))
