"""The registry of indicators: every time-series column's label, units, format, meaning and figure panel.

One entry per column (the grade shares: one entry for the family), with the unit it is stored in, the
unit and number format it is shown in, what it means, whether it is a key indicator, and the panel
that draws it. The columns' order and groups (abm/sim/indicators.py computes the values), the console
tables, comparisons, figures, the browser page and results/README.md's column table (docs/build.py)
all read it: a new indicator is one entry here plus its computation."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Unit:
    """A stored unit and how its values are shown: shown value = stored value x ``scale``."""

    stored: str  # as in timeseries.csv: share (0-1), yuan, yuan/year, persons, ...
    shown: str  # in tables and on figure axes
    scale: float
    decimals: int
    difference: str  # the unit of a difference: percentage points for percentages

    def number(self, value: float, signed: bool = False) -> str:
        """``value`` (stored unit) in the shown unit, without the unit: "1,925.4", "+3.2" (never "-0.0")."""
        shown = round(value * self.scale, self.decimals) + 0.0  # a negative zero becomes zero
        return f"{shown:{'+' if signed else ''},.{self.decimals}f}"

    @property
    def symbol(self) -> bool:
        """Whether the shown unit is a symbol written after the number ("%", "‰") rather than a word."""
        return self.shown in SYMBOLS

    def marked(self, value: float, signed: bool = False) -> str:
        """The number with its unit where that is a symbol: "87.7%", "1.25‰", "1,925.4" (a word unit
        is left to the heading)."""
        return self.number(value, signed) + (self.shown if self.symbol else "")

    def text(self, value: float, signed: bool = False) -> str:
        """The number with its unit: "87.7%", "1,094 yuan/year"."""
        return self.marked(value, signed) + ("" if self.symbol or not self.shown else f" {self.shown}")


SYMBOLS = ("%", "‰")
PERCENT = Unit("share", "%", 100.0, 1, "pts")
SMALL_PERCENT = Unit("share", "%", 100.0, 2, "pts")  # fractions of a percent
PER_MILLE = Unit("share", "‰", 1000.0, 2, "‰")
RATIO = Unit("ratio", "", 1.0, 2, "")
MILLION_YUAN = Unit("yuan", "million yuan", 1e-6, 1, "million yuan")
MILLION_YUAN_YEAR = Unit("yuan/year", "million yuan/year", 1e-6, 1, "million yuan/year")
YUAN_YEAR = Unit("yuan/year", "yuan/year", 1.0, 0, "yuan/year")  # per person
YUAN_MONTH = Unit("yuan/month", "yuan/month", 1.0, 1, "yuan/month")
YUAN_PERSON = Unit("yuan", "yuan/person", 1.0, 0, "yuan/person")
THOUSAND_PERSONS = Unit("persons", "thousand persons", 1e-3, 1, "thousand persons")
PERSONS_YEAR = Unit("persons/year", "persons/year", 1.0, 0, "persons/year")
YEARS = Unit("years", "years", 1.0, 1, "years")
YEAR = Unit("year", "year", 1.0, 0, "years")


@dataclass(frozen=True)
class Indicator:
    """One time-series column (or, for grade shares, a family of them).

    Args:
        label: short, for a table row or a figure title.
        unit: how it is stored and shown.
        meaning: what the column holds, as results/README.md's column table says.
        group: the computation that writes it (abm/sim/indicators.py): the columns are in the
            registry's order, group by group.
        key: a key indicator: in a run's summary (summary.json, the console table) and in comparisons.
        panel: the figure panel that draws it (abm/analysis/plots.py, and the browser page), if any.
        legend: its legend label in that panel (default: ``label``).
    """

    label: str
    unit: Unit
    meaning: str
    group: str
    key: bool = False
    panel: str | None = None
    legend: str | None = None

    def heading(self, difference: bool = False) -> str:
        """The label with the unit shown: "fund balance, million yuan" ("..., pts" for a difference)."""
        return f"{self.label}, {self.unit.difference if difference else self.unit.shown}"


GRADE_SHARES = "grade_share_<G>"  # the registry's entry for the grade shares' columns
GRADE_SHARE = re.compile(r"grade_share_(\d+)")  # one column per grade (abm/sim/indicators.py grade_column)
# The computations that write the columns (abm/sim/indicators.py, abm/sim/actuarial.py), in the columns' order.
GROUPS = ("run", "contributions", "pensions", "demography", "money", "valuation", "fiscal")
# The panels that draw indicators (abm/analysis/plots.py's *_panel functions and the browser page).
PANELS = (
    "enrolment",
    "grades",
    "pension",
    "adequacy",
    "population",
    "old_age",
    "fund",
    "public",
    "funding",
    "public_cost",
)


INDICATORS: dict[str, Indicator] = {
    # the run
    "year": Indicator("year", YEAR, "calendar year", "run"),
    "residents": Indicator("residents aged 16+", THOUSAND_PERSONS, "residents aged 16+", "run"),
    "mean_income": Indicator("mean rural income", YUAN_YEAR, "mean rural per-capita disposable income", "run"),
    # contributions
    "eligible": Indicator(
        "eligible residents",
        THOUSAND_PERSONS,
        "residents who may contribute this year (16+, not students, not in the employee scheme, not pensioners; "
        "past pension age only while short of the minimum years)",
        "contributions",
    ),
    "paying": Indicator(
        "paying residents",
        THOUSAND_PERSONS,
        "eligible residents with a contribution this year, own or government-paid",
        "contributions",
    ),
    "participation_rate": Indicator(
        "participation rate",
        PERCENT,
        "paying / eligible (this year's payers)",
        "contributions",
        key=True,
        panel="enrolment",
        legend="participation rate (paying / eligible)",
    ),
    "participants": Indicator(
        "participants",
        THOUSAND_PERSONS,
        "residents enrolled, as statistics count participants: paying this year, or having paid before and not yet "
        "drawing a pension, plus pensioners (at the start of the year)",
        "contributions",
    ),
    "enrolment_rate": Indicator(
        "enrolment rate",
        PERCENT,
        "eligible residents enrolled (paying this year or having paid before) / eligible",
        "contributions",
    ),
    "participation_16_29": Indicator("participation 16-29", PERCENT, "paying / eligible aged 16-29", "contributions"),
    "participation_30_44": Indicator("participation 30-44", PERCENT, "paying / eligible aged 30-44", "contributions"),
    "participation_45_59": Indicator("participation 45-59", PERCENT, "paying / eligible aged 45-59", "contributions"),
    "government_paid": Indicator(
        "government-paid residents",
        THOUSAND_PERSONS,
        "residents whose grade the government pays (disabled; poor from 2017)",
        "contributions",
    ),
    "lowest_grade_share": Indicator(
        "payers at the lowest grade",
        PERCENT,
        "share of self-paying residents at the year's lowest grade",
        "contributions",
        key=True,
        panel="enrolment",
    ),
    "top_grade_share": Indicator(
        "payers at the top grade",
        PERCENT,
        "share of self-paying residents at the year's highest grade",
        "contributions",
        key=True,
        panel="enrolment",
        legend="payers at the highest grade",
    ),
    "mean_contribution": Indicator(
        "mean contribution", YUAN_YEAR, "mean grade of self-paying residents", "contributions", key=True
    ),
    GRADE_SHARES: Indicator(
        "payers at grade <G> yuan/year",
        PERCENT,
        "share of self-paying residents at grade G yuan/year (0 when not offered); one column per grade the run "
        "can offer: every dated list's and, with `policy.grade_revision`, every revised list's",
        "contributions",
        panel="grades",
    ),
    # pensions
    "pensioners": Indicator("pensioners", THOUSAND_PERSONS, "residents drawing a pension", "pensions", key=True),
    "backpayers": Indicator(
        "back-payers",
        PERSONS_YEAR,
        "residents of the launch cohort back-paying the gap in the year (and so starting their pension)",
        "pensions",
    ),
    "beneficiary_share": Indicator(
        "pensioners / participants",
        PERCENT,
        "pensioners / participants (as statistics count them, pensioners included)",
        "pensions",
    ),
    "mean_basic_pension": Indicator(
        "mean basic pension",
        YUAN_MONTH,
        "mean basic pension incl. top-up and long-contribution bonus in force at the end of the year",
        "pensions",
        panel="pension",
        legend="basic pension",
    ),
    "mean_account_pension": Indicator(
        "mean account pension",
        YUAN_MONTH,
        "mean account pension",
        "pensions",
        panel="pension",
        legend="account pension",
    ),
    "mean_pension": Indicator("mean pension", YUAN_MONTH, "their sum", "pensions", key=True),
    "replacement_rate": Indicator(
        "replacement rate",
        PERCENT,
        "12 x mean pension / mean rural income",
        "pensions",
        key=True,
        panel="adequacy",
        legend="replacement rate (pension / rural income)",
    ),
    "basic_needs_coverage": Indicator(
        "basic-needs coverage", PERCENT, "12 x mean pension / basic-needs line", "pensions", key=True, panel="adequacy"
    ),
    # demography
    "population": Indicator(
        "population",
        THOUSAND_PERSONS,
        "persons of all ages at the end of the year (residents 16+ and the counted under-16s)",
        "demography",
        panel="population",
        legend="simulated, all ages",
    ),
    "share_60_plus": Indicator(
        "aged 60+",
        PERCENT,
        "share of `population` aged 60+ at the end of the year",
        "demography",
        panel="old_age",
        legend="simulated share aged 60+",
    ),
    "births": Indicator(
        "births",
        PERSONS_YEAR,
        "births in the year: the county birth rate times the population at the start of the year",
        "demography",
    ),
    "deaths": Indicator(
        "deaths", PERSONS_YEAR, "deaths in the year, all ages (residents 16+ and children)", "demography"
    ),
    "in_migrants": Indicator(
        "in-migrants",
        PERSONS_YEAR,
        "residents arriving in the year: earlier out-migrants returning and newcomers (with empty accounts)",
        "demography",
    ),
    "out_migrants": Indicator(
        "out-migrants",
        PERSONS_YEAR,
        "residents aged 16-45 leaving the county in the year (accounts transferred out)",
        "demography",
    ),
    # money: the fund's ledger (abm/sim/fund.py: INFLOWS, OUTFLOWS, PUBLIC) and shares of it
    "fund_balance": Indicator(
        "fund balance",
        MILLION_YUAN,
        "individual accounts at the end of the year",
        "money",
        key=True,
        panel="fund",
        legend="balance (individual accounts)",
    ),
    "fund_inflow": Indicator(
        "fund inflow",
        MILLION_YUAN_YEAR,
        "flows into the accounts: the sum of the five inflow items below, `contributions` to `interest`",
        "money",
        panel="fund",
        legend="inflow in the year",
    ),
    "fund_outflow": Indicator(
        "fund outflow",
        MILLION_YUAN_YEAR,
        "flows out of the accounts: the sum of the four outflow items below, `account_pensions` to `transfers_out`",
        "money",
        panel="fund",
        legend="outflow in the year",
    ),
    "public_spending": Indicator(
        "public spending", MILLION_YUAN_YEAR, "sum of the `public_*` items", "money", key=True
    ),
    "contribution_share_of_revenue": Indicator(
        "own money / fund revenue",
        PERCENT,
        "residents' own money (contributions and back-payments) / (own money + public spending + interest), as "
        "provincial fund statistics report revenue",
        "money",
    ),
    "basic_pension_share_of_spending": Indicator(
        "basic pension / pension spending",
        PERCENT,
        "basic pension (incl. bonus) / (basic pension + account pensions incl. those paid after exhaustion)",
        "money",
    ),
    "contributions": Indicator(
        "contributions", MILLION_YUAN_YEAR, "residents' own contributions (paid in `policy.collection_month`)", "money"
    ),
    "entry_subsidies": Indicator("entry subsidies", MILLION_YUAN_YEAR, "entry subsidies credited to accounts", "money"),
    "government_contributions": Indicator(
        "government-paid grades", MILLION_YUAN_YEAR, "grades paid by the government", "money"
    ),
    "backpayments": Indicator(
        "back-payments",
        MILLION_YUAN_YEAR,
        "back-payments at retirement by those deciding to back-pay (gap x lowest grade, no "
        "subsidy), at the start of the pension's first month",
        "money",
    ),
    "interest": Indicator(
        "interest",
        MILLION_YUAN_YEAR,
        "interest credited to accounts at the end of the year: on the opening balance, and pro "
        "rata by months held on the year's inflows and outflows",
        "money",
    ),
    "account_pensions": Indicator(
        "account pensions",
        MILLION_YUAN_YEAR,
        "account pensions paid monthly from accounts (for the months the scheme ran: six in "
        "July-launch 2011; a pension starting in the year from its first month, July in the "
        "baseline)",
        "money",
    ),
    "inheritance": Indicator(
        "inheritance",
        MILLION_YUAN_YEAR,
        "balances of residents who died, paid to heirs (until 2014 less the subsidy part)",
        "money",
    ),
    "returned_subsidies": Indicator(
        "returned subsidies",
        MILLION_YUAN_YEAR,
        "the subsidy part of the balances of residents who died while it was not "
        "inheritable (2011-2013: Guofa [2009] No. 32), back to public money",
        "money",
    ),
    "transfers_out": Indicator(
        "transfers out", MILLION_YUAN_YEAR, "balances of residents who left the county", "money"
    ),
    "public_basic_pension_central": Indicator(
        "basic pension, central",
        MILLION_YUAN_YEAR,
        "basic pension paid by the central government",
        "money",
        panel="public",
    ),
    "public_basic_pension_local": Indicator(
        "basic pension, local",
        MILLION_YUAN_YEAR,
        "basic pension paid locally (its share of the minimum and the top-up)",
        "money",
        panel="public",
    ),
    "public_bonus": Indicator(
        "long-contribution bonus", MILLION_YUAN_YEAR, "long-contribution bonus", "money", panel="public"
    ),
    "public_entry_subsidies": Indicator(
        "entry subsidies", MILLION_YUAN_YEAR, "entry subsidies (public money)", "money", panel="public"
    ),
    "public_government_contributions": Indicator(
        "government-paid grades",
        MILLION_YUAN_YEAR,
        "grades paid for the disabled and poor (public money)",
        "money",
        panel="public",
    ),
    "public_after_exhaustion": Indicator(
        "pensions after exhaustion",
        MILLION_YUAN_YEAR,
        "account pensions paid from public money after the account ran out",
        "money",
        panel="public",
    ),
    # valuation (abm/sim/actuarial.py)
    "account_liability": Indicator(
        "account liability",
        MILLION_YUAN,
        "what the accounts owe at the end of the year: balances of residents not yet drawing, plus for each "
        "pensioner the present value of the account pension for life and of the balance the heirs will inherit "
        "(abm/sim/actuarial.py: survival-weighted with the county's life table, discounted at "
        "`policy.valuation_rate`, by default the account interest rate in force; interest and the year's rules "
        "assumed to stay)",
        "valuation",
    ),
    "funding_ratio": Indicator(
        "funding ratio",
        PERCENT,
        "`fund_balance` / `account_liability` (0 while nothing is owed); at a valuation rate "
        "equal to the interest rate, 1 - `longevity_gap` / `account_liability`",
        "valuation",
        key=True,
        panel="funding",
        legend="funding ratio (accounts / account liability)",
    ),
    "longevity_gap": Indicator(
        "longevity gap",
        MILLION_YUAN,
        "present value of the account pensions public money will pay to today's pensioners "
        "once their accounts are exhausted",
        "valuation",
        key=True,
        panel="fund",
        legend="longevity gap (present value)",
    ),
    "basic_pension_obligation": Indicator(
        "basic-pension obligation",
        MILLION_YUAN,
        "the scheme's implicit public debt: present value of today's pensioners' basic pension (incl. top-up and "
        "bonus, as in force) for life, and of contributors' accrued rights: min(years paid / `min_years`, 1) of the "
        "basic pension and top-up in force, from the pension age for life (no future rises)",
        "valuation",
    ),
    "reserve_ratio": Indicator(
        "reserve (years of account pensions)",
        YEARS,
        "`fund_balance` / `account_pensions`: years of account-pension payments the accounts "
        "hold (0 in a year without any)",
        "valuation",
    ),
    "divisor_life_expectancy": Indicator(
        "life expectancy the divisor implies",
        YEARS,
        "years of pension the divisor in force implies: divisor / 12",
        "valuation",
    ),
    "life_expectancy_at_pension_age": Indicator(
        "life expectancy at the pension age",
        YEARS,
        "complete life expectancy at the pension age in force from the county's life table, for the pensioners' mix "
        "of sexes at the end of the year",
        "valuation",
    ),
    # fiscal
    "gdp": Indicator(
        "county GDP",
        MILLION_YUAN_YEAR,
        "the county's GDP in the year: the county file's `gdp` (approx, 2017) moved with mean rural income",
        "fiscal",
    ),
    "budget_revenue": Indicator(
        "budget revenue",
        MILLION_YUAN_YEAR,
        "general public budget revenue collected in the county: the county file's "
        "`budget_revenue` (approx, 2017) moved with mean rural income",
        "fiscal",
    ),
    "public_spending_per_person": Indicator(
        "public spending per person", YUAN_YEAR, "`public_spending` / `population`, per person of all ages", "fiscal"
    ),
    "public_spending_share_gdp": Indicator(
        "public spending / county GDP",
        SMALL_PERCENT,
        "`public_spending` / `gdp`",
        "fiscal",
        key=True,
        panel="public_cost",
    ),
    "public_spending_share_budget": Indicator(
        "public spending / budget revenue",
        SMALL_PERCENT,
        "`public_spending` / `budget_revenue`",
        "fiscal",
        panel="public_cost",
    ),
    "public_spending_central": Indicator(
        "public spending, central",
        MILLION_YUAN_YEAR,
        "public spending paid by the central government (its share of the national minimum basic pension)",
        "fiscal",
    ),
    "public_spending_local": Indicator(
        "public spending, local",
        MILLION_YUAN_YEAR,
        "the rest of `public_spending`, paid locally (local share of the minimum, "
        "top-up, bonus, subsidies, government-paid grades, pensions after exhaustion)",
        "fiscal",
    ),
}
KEY_INDICATORS = tuple(name for name, entry in INDICATORS.items() if entry.key)


def group(name: str) -> tuple[str, ...]:
    """The registry's indicators of one group (:data:`GROUPS`), in order (grade shares by their entry)."""
    return tuple(indicator for indicator, entry in INDICATORS.items() if entry.group == name)


def panel(name: str) -> dict[str, str]:
    """The indicators one panel (:data:`PANELS`) draws, in order, and their legend labels."""
    if name not in PANELS:
        raise KeyError(f"no panel {name!r}; the panels: {', '.join(PANELS)}")
    return {indicator: entry.legend or entry.label for indicator, entry in INDICATORS.items() if entry.panel == name}


def indicator(name: str) -> Indicator:
    """How the indicator ``name`` (a time-series column) is shown; grade shares by their pattern."""
    if name in INDICATORS and name != GRADE_SHARES:
        return INDICATORS[name]
    grade = GRADE_SHARE.fullmatch(name)
    if grade:
        entry = INDICATORS[GRADE_SHARES]
        return replace(
            entry, label=entry.label.replace("<G>", grade[1]), meaning=entry.meaning.replace(" G ", f" {grade[1]} ")
        )
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
