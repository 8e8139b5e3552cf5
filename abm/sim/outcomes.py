"""How each indicator is shown: its label, the unit it is stored in, the unit and number format it is
shown in. The one table the console tables, comparisons, figures and the README's run tables read
(abm/sim/indicators.py computes the values; results/README.md says what each column means)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """A stored unit and how its values are shown: shown value = stored value x ``scale``."""

    stored: str          # as in timeseries.csv: share (0-1), yuan, yuan/year, persons, ...
    shown: str           # in tables and on figure axes
    scale: float
    decimals: int
    difference: str      # the unit of a difference: percentage points for percentages

    def number(self, value: float, signed: bool = False) -> str:
        """``value`` (stored unit) in the shown unit, without the unit: "1,925.4", "+3.2" (never "-0.0")."""
        shown = round(value * self.scale, self.decimals) + 0.0   # a negative zero becomes zero
        return f"{shown:{'+' if signed else ''},.{self.decimals}f}"


PERCENT = Unit("share", "%", 100.0, 1, "pts")
SMALL_PERCENT = Unit("share", "%", 100.0, 2, "pts")              # fractions of a percent
MILLION_YUAN = Unit("yuan", "million yuan", 1e-6, 1, "million yuan")
MILLION_YUAN_YEAR = Unit("yuan/year", "million yuan/year", 1e-6, 1, "million yuan/year")
YUAN_YEAR = Unit("yuan/year", "yuan/year", 1.0, 0, "yuan/year")   # per person
YUAN_MONTH = Unit("yuan/month", "yuan/month", 1.0, 1, "yuan/month")
THOUSAND_PERSONS = Unit("persons", "thousand persons", 1e-3, 1, "thousand persons")
PERSONS_YEAR = Unit("persons/year", "persons/year", 1.0, 0, "persons/year")
YEARS = Unit("years", "years", 1.0, 1, "years")
YEAR = Unit("year", "year", 1.0, 0, "years")


@dataclass(frozen=True)
class Indicator:
    label: str           # short, for a table row or a figure title
    unit: Unit

    def heading(self, difference: bool = False) -> str:
        """The label with the unit shown: "fund balance, million yuan" ("..., pts" for a difference)."""
        return f"{self.label}, {self.unit.difference if difference else self.unit.shown}"


_INDICATORS = {
    "year": ("year", YEAR),
    "residents": ("residents aged 16+", THOUSAND_PERSONS),
    "mean_income": ("mean rural income", YUAN_YEAR),
    # contributions
    "eligible": ("eligible residents", THOUSAND_PERSONS),
    "paying": ("paying residents", THOUSAND_PERSONS),
    "participation_rate": ("participation rate", PERCENT),
    "participants": ("participants", THOUSAND_PERSONS),
    "enrolment_rate": ("enrolment rate", PERCENT),
    "participation_16_29": ("participation 16-29", PERCENT),
    "participation_30_44": ("participation 30-44", PERCENT),
    "participation_45_59": ("participation 45-59", PERCENT),
    "government_paid": ("government-paid residents", THOUSAND_PERSONS),
    "lowest_grade_share": ("payers at the lowest grade", PERCENT),
    "top_grade_share": ("payers at the top grade", PERCENT),
    "mean_contribution": ("mean contribution", YUAN_YEAR),
    # pensions
    "pensioners": ("pensioners", THOUSAND_PERSONS),
    "backpayers": ("back-payers", PERSONS_YEAR),
    "beneficiary_share": ("pensioners / participants", PERCENT),
    "mean_basic_pension": ("mean basic pension", YUAN_MONTH),
    "mean_account_pension": ("mean account pension", YUAN_MONTH),
    "mean_pension": ("mean pension", YUAN_MONTH),
    "replacement_rate": ("replacement rate", PERCENT),
    "basic_needs_coverage": ("basic-needs coverage", PERCENT),
    # demography
    "population": ("population", THOUSAND_PERSONS),
    "share_60_plus": ("aged 60+", PERCENT),
    "births": ("births", PERSONS_YEAR),
    "deaths": ("deaths", PERSONS_YEAR),
    "in_migrants": ("in-migrants", PERSONS_YEAR),
    "out_migrants": ("out-migrants", PERSONS_YEAR),
    # money
    "fund_balance": ("fund balance", MILLION_YUAN),
    "fund_inflow": ("fund inflow", MILLION_YUAN_YEAR),
    "fund_outflow": ("fund outflow", MILLION_YUAN_YEAR),
    "public_spending": ("public spending", MILLION_YUAN_YEAR),
    "contribution_share_of_revenue": ("own money / fund revenue", PERCENT),
    "basic_pension_share_of_spending": ("basic pension / pension spending", PERCENT),
    "contributions": ("contributions", MILLION_YUAN_YEAR),
    "entry_subsidies": ("entry subsidies", MILLION_YUAN_YEAR),
    "government_contributions": ("government-paid grades", MILLION_YUAN_YEAR),
    "backpayments": ("back-payments", MILLION_YUAN_YEAR),
    "interest": ("interest", MILLION_YUAN_YEAR),
    "account_pensions": ("account pensions", MILLION_YUAN_YEAR),
    "inheritance": ("inheritance", MILLION_YUAN_YEAR),
    "returned_subsidies": ("returned subsidies", MILLION_YUAN_YEAR),
    "transfers_out": ("transfers out", MILLION_YUAN_YEAR),
    "public_basic_pension_central": ("basic pension, central", MILLION_YUAN_YEAR),
    "public_basic_pension_local": ("basic pension, local", MILLION_YUAN_YEAR),
    "public_bonus": ("long-contribution bonus", MILLION_YUAN_YEAR),
    "public_entry_subsidies": ("entry subsidies", MILLION_YUAN_YEAR),
    "public_government_contributions": ("government-paid grades", MILLION_YUAN_YEAR),
    "public_after_exhaustion": ("pensions after exhaustion", MILLION_YUAN_YEAR),
    # valuation
    "account_liability": ("account liability", MILLION_YUAN),
    "funding_ratio": ("funding ratio", PERCENT),
    "longevity_gap": ("longevity gap", MILLION_YUAN),
    "basic_pension_obligation": ("basic-pension obligation", MILLION_YUAN),
    "reserve_ratio": ("reserve (years of account pensions)", YEARS),
    "divisor_life_expectancy": ("life expectancy the divisor implies", YEARS),
    "life_expectancy_at_pension_age": ("life expectancy at the pension age", YEARS),
    # fiscal
    "gdp": ("county GDP", MILLION_YUAN_YEAR),
    "budget_revenue": ("budget revenue", MILLION_YUAN_YEAR),
    "public_spending_per_person": ("public spending per person", YUAN_YEAR),
    "public_spending_share_gdp": ("public spending / county GDP", SMALL_PERCENT),
    "public_spending_share_budget": ("public spending / budget revenue", SMALL_PERCENT),
    "public_spending_central": ("public spending, central", MILLION_YUAN_YEAR),
    "public_spending_local": ("public spending, local", MILLION_YUAN_YEAR),
}
INDICATORS = {name: Indicator(label, unit) for name, (label, unit) in _INDICATORS.items()}
GRADE_SHARE = re.compile(r"grade_share_(\d+)")   # one column per grade (abm/sim/indicators.py grade_column)


def indicator(name: str) -> Indicator:
    """How the indicator ``name`` (a time-series column) is shown; grade shares by their pattern."""
    if name in INDICATORS:
        return INDICATORS[name]
    grade = GRADE_SHARE.fullmatch(name)
    if grade:
        return Indicator(f"payers at grade {grade[1]} yuan/year", PERCENT)
    raise KeyError(f"no unit for indicator {name!r}: add it to abm/sim/outcomes.py")


def number(name: str, value: float, signed: bool = False) -> str:
    """The indicator's value in its shown unit, without the unit (the heading gives it)."""
    return indicator(name).unit.number(value, signed)


def heading(name: str, difference: bool = False) -> str:
    """The indicator's label and shown unit: "mean pension, yuan/month"."""
    return indicator(name).heading(difference)


def label(name: str) -> str:
    return indicator(name).label


def shown_unit(name: str) -> str:
    return indicator(name).unit.shown


def scale(name: str) -> float:
    """Shown value / stored value of the indicator (100 for a share shown in %)."""
    return indicator(name).unit.scale
