"""The policy in force in one year: grades, subsidies, benefits and the rules around them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abm.inputs.dated import last_year, monthly_values, value_at
from abm.inputs.scenario import MAX_GRADE, GradeRevision, PolicySpec
from abm.sim.economy import Economy

# Codes of the resident groups the government may pay the minimum grade for.
GROUP_CODES = {"none": 0, "disabled": 1, "poor": 2}


@dataclass(frozen=True)
class YearPolicy:
    """Everything a resident and the fund need to know about one year's rules."""

    year: int
    grades: np.ndarray  # yuan/year, increasing
    subsidies: np.ndarray  # entry subsidy per grade, yuan/year
    government_paid_grade: float  # yuan/year
    government_paid_subsidy: float  # entry subsidy on that grade, yuan/year
    government_paid_groups: tuple[int, ...]
    basic_pension: float  # national minimum in force at the end of the year, yuan/month
    local_top_up: float  # in force at the end of the year, yuan/month
    central_share: float  # share of the national minimum paid by the centre
    bonus_per_year: float  # yuan/month per contribution year beyond min_years, at the end of the year
    interest_rate: float  # per year
    valuation_rate: float  # discount rate of the actuarial valuation, per year
    pension_age: int  # years
    min_years: int
    launch_year: int
    launch_pension_age: int  # the pension age in force at launch: decides the right to back-pay
    backpay: bool
    publicity: float  # 0-1
    service_quality: float  # 0-1
    financial_education: float  # share of residents 16-59 taught compound interest this year, 0-1
    divisor_table: tuple[tuple[int, float], ...]
    months: int  # months of pensions paid in the year (fewer in a mid-year launch year)
    basic_pension_paid: float  # national minimum paid over those months, yuan/year per pensioner
    local_top_up_paid: float  # yuan/year per pensioner
    bonus_paid: float  # yuan/year per pensioner and contribution year beyond min_years
    subsidy_inheritable: bool  # the subsidy part of an account is inherited at death
    collection_month: int  # month contributions are paid, 1-12 (abm/sim/timing.py: collection_month)
    paid_by_month: np.ndarray  # yuan/month paid in months 1-12 (0 where not paid), rows: national minimum,
    #                               local top-up, bonus per contribution year beyond min_years

    @property
    def lowest_grade(self) -> float:
        return float(self.grades[0])

    def annuity_divisor(self, pension_age: np.ndarray | int) -> np.ndarray:
        """Months the account is divided by for a pension age, interpolated in the table and clamped
        to its ends."""
        ages, months = zip(*self.divisor_table)
        return np.interp(pension_age, ages, months)

    @property
    def divisor(self) -> float:
        """The divisor of the pension age in force: every pension starting this year uses it,
        whatever the age of the resident (those short of years retire later on the same divisor)."""
        return float(self.annuity_divisor(self.pension_age))


def subsidy_schedule(rules, grades: np.ndarray) -> np.ndarray:
    """Subsidy per grade: the amount of the highest rule ``[from_grade, amount]`` at or below it."""
    rules = sorted(rules)
    starts = np.array([start for start, _ in rules], dtype=float)
    amounts = np.array([amount for _, amount in rules], dtype=float)
    index = np.searchsorted(starts, np.asarray(grades, dtype=float), side="right") - 1
    if np.any(index < 0):
        raise ValueError(f"no subsidy rule covers grade {np.asarray(grades)[index < 0][0]}")
    return amounts[index]


def ladder_round(values, ladder) -> np.ndarray:
    """Amounts rounded as provincial grade lists are: each to the nearest multiple (halves up, at least
    one step) of the step of the highest rung ``[from, step]`` at or below it.

    Args:
        values: amounts, yuan/year.
        ladder: rungs [from yuan/year, step yuan/year], the first from 0 (``GradeRevision.rounding``).
    """
    values = np.asarray(values, dtype=float)
    starts, steps = (np.array(column, dtype=float) for column in zip(*ladder))
    step = steps[np.searchsorted(starts, values, side="right") - 1]
    return np.maximum(np.floor(values / step + 0.5), 1.0) * step


def revise_grades(grades, factor: float, rule: GradeRevision) -> list[int]:
    """A grade list moved by ``factor``: each grade scaled, rounded by the ladder, kept within
    MAX_GRADE; grades that meet are one (yuan/year, strictly increasing)."""
    rounded = np.minimum(ladder_round(np.asarray(grades, dtype=float) * factor, rule.rounding), MAX_GRADE)
    return [int(g) for g in np.unique(rounded)]


def revise_subsidy(rules, factor: float, rule: GradeRevision) -> list[tuple[int, float]]:
    """Subsidy rules ``[from grade, yuan/year]`` moved by ``factor``: thresholds rounded like grades,
    amounts to ``rule.subsidy_rounding``; of rules whose thresholds meet, the higher one's amount holds."""
    starts, amounts = (np.array(column, dtype=float) for column in zip(*sorted(rules)))
    starts = np.minimum(ladder_round(starts * factor, rule.rounding), MAX_GRADE)
    step = rule.subsidy_rounding
    amounts = np.floor(amounts * factor / step + 0.5) * step
    return list({int(start): float(amount) for start, amount in zip(starts, amounts)}.items())


def menu_for_year(spec: PolicySpec, year: int, economy: Economy | None) -> tuple[list[int], list[tuple[int, float]]]:
    """The grades (yuan/year) and subsidy rules in force in ``year``: the dated ones, or, from a
    revision year of ``spec.grade_revision`` after their date, the dated ones moved by mean rural
    income in the revision year over that of the year they fit (their date, or the rule's base_year
    if later); a dated value wins from its own year. The lowest subsidy rule then reaches down to
    the lowest grade and the government-paid grade (which stays as dated).

    Raises:
        ValueError: a revised year asked for without ``economy``.
    """
    grades, rules = value_at(spec.grades, year), value_at(spec.subsidy, year)
    rule = spec.grade_revision
    revision = max(rule.years(spec.launch_year, year), default=None) if rule is not None else None
    if revision is None:
        return grades, rules
    if economy is None:
        raise ValueError(f"the grades of {year} are revised with income ({revision}): an economy is needed")

    def factor(dated) -> float | None:
        since = max(y for y in dated if y <= year)
        if since >= revision:
            return None  # dated in or after the revision year: the dated value holds
        return economy.mean_income(revision) / economy.mean_income(max(since, rule.base_year))

    grades_factor, rules_factor = factor(spec.grades), factor(spec.subsidy)
    if grades_factor is None and rules_factor is None:
        return grades, rules
    if grades_factor is not None:
        grades = revise_grades(grades, grades_factor, rule)
    rules = sorted(revise_subsidy(rules, rules_factor, rule) if rules_factor is not None else rules)
    floor = min(grades[0], value_at(spec.government_paid_grade, year))
    if rules[0][0] > floor:
        rules[0] = (floor, rules[0][1])
    return grades, rules


def offered_grades(spec: PolicySpec, economy: Economy | None, years: range) -> list[int]:
    """Every grade (yuan/year) of a dated list, and of the revised lists of ``years``: the grades a run
    can offer (each names an indicator column)."""
    dated = {g for grades in spec.grades.values() for g in grades}
    revised = {g for year in years for g in menu_for_year(spec, year, economy)[0]} if spec.grade_revision else set()
    return sorted(dated | revised)


def basic_pension_path(spec: PolicySpec, economy: Economy, years: range) -> dict[int, float]:
    """National minimum basic pension in force at the end of each year, yuan/month: dated values,
    then the indexation rule."""
    last_dated = last_year(spec.basic_pension)
    rule = spec.basic_pension_indexation
    path: dict[int, float] = {}
    for year in range(min(years[0], last_dated), years[-1] + 1):  # index from the last dated value
        if year <= last_dated:
            path[year] = value_at(spec.basic_pension, year)
        else:
            growth = (
                rule.rate + rule.income_share * economy.income_growth(year) + rule.price_share * economy.inflation(year)
            )
            path[year] = path[year - 1] * (1 + growth)
    return {year: path[year] for year in years}


def months_paid(spec: PolicySpec, year: int) -> np.ndarray:
    """Which months of ``year`` the scheme pays pensions in (all but those before a mid-year launch)."""
    months = np.arange(1, 13)
    return (year > spec.launch_year) | ((year == spec.launch_year) & (months >= spec.launch_month))


def paid_by_month(dated, year: int, paid: np.ndarray, in_force: float | None = None) -> np.ndarray:
    """A monthly amount in each month of ``year`` it is paid in (0 in the others), yuan/month: the
    dated value of each month, or ``in_force`` for every month of a year past the last dated value
    (an indexed amount)."""
    if in_force is not None and year > last_year(dated):
        return in_force * paid
    return np.asarray(monthly_values(dated, year), dtype=float) * paid


def policy_for_year(spec: PolicySpec, year: int, basic_pension: float, economy: Economy | None = None) -> YearPolicy:
    """Resolve every dated policy value for ``year``; ``basic_pension`` is the national minimum in
    force at the end of the year (yuan/month, indexed after its last dated value); ``economy`` moves
    the grades and subsidy rules of a revision year (:func:`menu_for_year`), and is needed for those."""
    grades, rules = menu_for_year(spec, year, economy)
    grades = np.asarray(grades, dtype=float)
    paid_grade = float(value_at(spec.government_paid_grade, year))
    paid = months_paid(spec, year)
    by_month = np.array(
        [
            paid_by_month(spec.basic_pension, year, paid, basic_pension),
            paid_by_month(spec.local_top_up, year, paid),
            paid_by_month(spec.long_contribution_bonus, year, paid),
        ]
    )
    by_month.flags.writeable = False
    return YearPolicy(
        year=year,
        grades=grades,
        subsidies=subsidy_schedule(rules, grades),
        government_paid_grade=paid_grade,
        government_paid_subsidy=float(subsidy_schedule(rules, np.array([paid_grade]))[0]),
        government_paid_groups=tuple(GROUP_CODES[g] for g in value_at(spec.government_paid_groups, year)),
        basic_pension=basic_pension,
        local_top_up=value_at(spec.local_top_up, year),
        central_share=spec.central_share,
        bonus_per_year=value_at(spec.long_contribution_bonus, year),
        interest_rate=value_at(spec.interest_rate, year),
        valuation_rate=value_at(spec.interest_rate if spec.valuation_rate is None else spec.valuation_rate, year),
        pension_age=value_at(spec.pension_age, year),
        min_years=spec.min_years,
        launch_year=spec.launch_year,
        launch_pension_age=value_at(spec.pension_age, spec.launch_year),
        backpay=spec.backpay,
        publicity=value_at(spec.publicity, year),
        service_quality=value_at(spec.service_quality, year),
        financial_education=value_at(spec.financial_education, year),
        divisor_table=tuple(sorted(spec.annuity_divisor.items())),
        months=int(paid.sum()),
        basic_pension_paid=float(by_month[0].sum()),
        local_top_up_paid=float(by_month[1].sum()),
        bonus_paid=float(by_month[2].sum()),
        subsidy_inheritable=bool(value_at(spec.subsidy_inheritable, year)),
        collection_month=spec.collection_month,
        paid_by_month=by_month,
    )


def may_backpay(age: np.ndarray, years: np.ndarray, policy: YearPolicy) -> np.ndarray:
    """Residents who had fewer than ``min_years`` to go to the pension age at launch (the pension
    age then in force: a later change of the pension age creates no new right) and have paid:
    may back-pay the gap."""
    age_at_launch = age - (policy.year - policy.launch_year)
    return policy.backpay & (age_at_launch > policy.launch_pension_age - policy.min_years) & (years > 0)


def backpay_gap(pop, policy: YearPolicy) -> np.ndarray:
    """Years each resident may back-pay this year (0 for everyone else): those at or past the pension
    age, not drawing a pension, not in the employee scheme, with the right (:func:`may_backpay`),
    short of ``min_years``: the gap to ``min_years`` (back-payments are capped at it, Guofa [2014]
    No. 8). The right has no deadline: whoever declines stays short of years, draws no pension and
    may back-pay in any later year (and, having the right, does not pay yearly past the pension age:
    :func:`eligible_to_contribute`)."""
    holders = ~pop.pensioner & ~pop.employee & (pop.age >= policy.pension_age) & may_backpay(pop.age, pop.years, policy)
    return np.where(holders, np.maximum(policy.min_years - pop.years, 0), 0)


def eligible_to_contribute(pop, policy: YearPolicy) -> np.ndarray:
    """Who may pay this year: not students, not pensioners, not in the employee scheme, and
    either below pension age or still short of the minimum years (they keep paying after it),
    unless they have the right to back-pay: past the pension age, theirs is the back-payment of the
    gap (:func:`backpay_gap`), which they may decide on again every year."""
    free = ~pop.pensioner & ~pop.employee & (pop.age >= pop.school_until)
    short = (pop.years > 0) & (pop.years < policy.min_years) & ~may_backpay(pop.age, pop.years, policy)
    return free & ((pop.age < policy.pension_age) | short)
