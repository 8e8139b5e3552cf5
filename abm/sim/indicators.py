"""Yearly indicators: enrolment, grades, pensions, adequacy, population and money. County totals (weighted)."""

from __future__ import annotations

import numpy as np

from abm.sim import outcomes
from abm.sim.fund import MONTHS, monthly_basic_pension
from abm.sim.policy import YearPolicy

# Each group's columns, in order, from the registry of indicators (abm/sim/outcomes.py); the grade shares
# (outcomes.GRADE_SHARES) stand for one column per grade.
CONTRIBUTIONS, PENSIONS, DEMOGRAPHY, MONEY, FISCAL = map(
    outcomes.group, ("contributions", "pensions", "demography", "money", "fiscal")
)
AGE_BANDS = {"participation_16_29": (16, 29), "participation_30_44": (30, 44), "participation_45_59": (45, 59)}


def names(all_grades: list[int]) -> list[str]:
    """Every indicator column, in the registry's order (abm/sim/outcomes.py), a grade share per grade in
    ``all_grades``: one value each per year."""
    return [
        column
        for name in outcomes.INDICATORS
        for column in (map(grade_column, all_grades) if name == outcomes.GRADE_SHARES else [name])
    ]


def grade_column(grade: float) -> str:
    return f"grade_share_{int(grade)}"


def contributions(pop, eligible: np.ndarray, policy: YearPolicy, all_grades: list[int]) -> dict[str, float]:
    """Who may pay, who pays, and the grades chosen by those paying themselves."""
    w = pop.weight
    paying = eligible & (pop.choice > 0)
    own = paying & ~pop.gov_paid
    chosen = pop.choice[np.flatnonzero(own)]  # (by index: faster than by a scattered mask)
    n_own = max(chosen.size, 1)
    shares = {grade_column(g): float(np.count_nonzero(chosen == g)) / n_own for g in all_grades}
    # enrolled: paying this year, or paid before and not yet drawing a pension (as statistics count participants)
    enrolled = paying | (~pop.pensioner & (pop.years > 0))
    bands = {}
    for name, (first, last) in AGE_BANDS.items():
        band = eligible & (pop.age >= first) & (pop.age <= last)
        bands[name] = float(np.count_nonzero(band & paying)) / max(np.count_nonzero(band), 1)
    n_eligible, n_paying = np.count_nonzero(eligible), np.count_nonzero(paying)
    return {
        "eligible": n_eligible * w,
        "paying": n_paying * w,
        "participation_rate": n_paying / max(n_eligible, 1),
        "participants": (np.count_nonzero(enrolled) + np.count_nonzero(pop.pensioner)) * w,
        "enrolment_rate": np.count_nonzero(enrolled & eligible) / max(n_eligible, 1),
        **bands,
        "government_paid": np.count_nonzero(paying & pop.gov_paid) * w,
        "lowest_grade_share": float(np.count_nonzero(chosen == policy.grades[0])) / n_own,
        "top_grade_share": float(np.count_nonzero(chosen == policy.grades[-1])) / n_own,
        "mean_contribution": float(chosen.mean()) if chosen.size else 0.0,
        **shares,
    }


def pensions(
    pop, policy: YearPolicy, mean_income: float, basic_needs_line: float, participants: float, backpaying: np.ndarray
) -> dict[str, float]:
    """Pensioners, those who back-paid to become one this year, their mean monthly pension and what
    it is worth against income and needs.

    Args:
        participants: residents enrolled, as statistics count them, persons (:func:`contributions`).
        backpaying: per resident, back-paid this year (abm/sim/model.py's decision).
    """
    pensioners = np.flatnonzero(pop.pensioner)  # (by index: faster than by a scattered mask)
    count = pensioners.size
    basic = float(monthly_basic_pension(policy, pop.years[pensioners]).mean()) if count else 0.0
    account = float(pop.account_pension[pensioners].mean()) if count else 0.0
    total = basic + account
    return {
        "pensioners": count * pop.weight,
        "backpayers": np.count_nonzero(backpaying) * pop.weight,
        "beneficiary_share": count * pop.weight / max(participants, 1.0),
        "mean_basic_pension": basic,
        "mean_account_pension": account,
        "mean_pension": total,
        "replacement_rate": MONTHS * total / mean_income,
        "basic_needs_coverage": MONTHS * total / basic_needs_line,
    }


def demography(pop, births: float, deaths: float, in_migrants: float, out_migrants: float) -> dict[str, float]:
    """Population of all ages at the end of the year, its share aged 60+, and the year's flows.

    Args:
        pop: the residents after the year's demography (16+ rows, under-16s counted).
        births, deaths, in_migrants, out_migrants: the year's flows, persons (deaths incl. children).
    """
    population = len(pop) * pop.weight + float(pop.under_16.sum())
    old = np.count_nonzero(pop.age >= 60) * pop.weight
    return {
        "population": population,
        "share_60_plus": old / population if population else 0.0,
        "births": births,
        "deaths": deaths,
        "in_migrants": in_migrants,
        "out_migrants": out_migrants,
    }


def money(ledger_row: dict[str, float]) -> dict[str, float]:
    """The fund's year in yuan: balance, flows by item, public spending by item."""
    row = ledger_row
    basic = row["public_basic_pension_central"] + row["public_basic_pension_local"] + row["public_bonus"]
    own = row["contributions"] + row["backpayments"]  # residents' own money, yearly and back-paid
    revenue = own + row["public_spending"] + row["interest"]
    spending = basic + row["account_pensions"] + row["public_after_exhaustion"]
    derived = {
        # the shares provincial fund statistics report (revenue: contributions, fiscal money, interest)
        "contribution_share_of_revenue": own / revenue if revenue else 0.0,
        "basic_pension_share_of_spending": basic / spending if spending else 0.0,
    }
    renamed = {"fund_balance": "closing_balance", "fund_inflow": "inflow", "fund_outflow": "outflow"}
    return {name: derived[name] if name in derived else row[renamed.get(name, name)] for name in MONEY}


def fiscal(ledger_row: dict[str, float], population: float, gdp: float, budget_revenue: float) -> dict[str, float]:
    """The scheme's public cost against the county: per person, as shares of GDP and of budget revenue,
    and by payer.

    Args:
        ledger_row: the year's ledger (yuan; public_* items and public_spending).
        population: persons of all ages at the end of the year.
        gdp, budget_revenue: the county's GDP and general public budget revenue in the year, yuan/year.
    """
    row = ledger_row
    spending = row["public_spending"]
    central = row["public_basic_pension_central"]
    return {
        "gdp": gdp,
        "budget_revenue": budget_revenue,
        "public_spending_per_person": spending / population if population else 0.0,
        "public_spending_share_gdp": spending / gdp,
        "public_spending_share_budget": spending / budget_revenue,
        "public_spending_central": central,
        "public_spending_local": spending - central,
    }
