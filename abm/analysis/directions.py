"""Policy directions: each lever against the scenario itself over paired runs, held to the direction the evidence gives.

A lever changes the scenario from a year on; the same seeds run with and without it (common random
numbers), so a difference is the lever's alone. The directions come from the evidence and from
what the levers are: more subsidy, basic pension, top-up, interest, publicity, service or financial
education never means fewer payers beyond the runs' noise (Lin & Zhang 2020 find no effect of the
matching subsidy and a positive one of the basic pension; Song 2020 a rise of contributions with
financial education); a higher minimum grade prices some residents out; renaming every grade by
one yuan changes nothing real. The reference runs are also held to the age profile of take-up
(the young pay less than those near the pension age, but nowhere does everyone pay).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from abm.analysis import effects, replications
from abm.inputs.coefficients import Coefficients
from abm.inputs.dated import value_at
from abm.inputs.loader import load_scenario
from abm.inputs.scenario import Scenario, replication_seeds
from abm.sim import diagnostics

NOISE = 0.003  # share of the eligible: a mean paired difference within it is noise (0.3 points)
SPAN = 10  # years of outcome, from the lever's year
CERTAIN = 0.99  # a chooser paying with at least this probability pays for sure
CERTAIN_SHARE = 0.25  # at most this share of choosers aged 45-59 may pay for sure
CEILING_45_59 = 0.97  # participation aged 45-59 stays below this in every year from CEILING_FROM
CEILING_FROM = 2015


@dataclass(frozen=True)
class Check:
    """One indicator's paired difference held to a bound.

    Args:
        indicator: a time-series column.
        measure: "points" (difference of a share, in shares) or "relative" (difference / reference).
        low, high: the bounds on the mean paired difference (None: open).
    """

    indicator: str
    measure: str
    low: float | None = None
    high: float | None = None

    def met(self, value: float) -> bool:
        return (self.low is None or value > self.low) and (self.high is None or value < self.high)

    def text(self) -> str:
        """The bounds in the measure's unit: "> -0.5 pts", "+15% to +70%"."""

        def shown(value: float) -> str:
            return difference_text(self.measure, value, decimals=1 if self.measure == "points" else 0)

        if self.low is not None and self.high is not None:
            return f"{shown(self.low)} to {shown(self.high)}"
        return f"> {shown(self.low)}" if self.low is not None else f"< {shown(self.high)}"


UNITS = {"points": " pts", "relative": "%"}  # a measure's differences: percentage points, or percent of the reference


def difference_text(measure: str, value: float, decimals: int = 2) -> str:
    """A difference in its measure's unit (:data:`UNITS`): "+1.25 pts" (of a share), "+12.50%" (relative)."""
    return f"{100 * value:+.{decimals}f}{UNITS[measure]}"


def paired_text(row) -> str:
    """A lever's mean paired difference and its 90% band (a row of :attr:`Result.table`): "+1.25 pts [+0.80, +1.70]"."""
    return f"{difference_text(row.measure, row.difference)} [{100 * row.low:+.2f}, {100 * row.high:+.2f}]"


@dataclass(frozen=True)
class Direction:
    """A lever and what it must do.

    Args:
        label: what the lever does, as the table names it.
        change: the overrides (``path=value``) that apply the lever from a year to a scenario.
        checks: what the paired differences must show.
        years: years of outcome from the lever's year (the mean over them is compared).
    """

    label: str
    change: Callable[[Scenario, int], list[str]]
    checks: tuple[Check, ...]
    years: int = SPAN


def _yaml_list(values) -> str:
    return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) + "]"


def subsidy_plus(amount: float) -> Callable[[Scenario, int], list[str]]:
    def change(scenario: Scenario, year: int) -> list[str]:
        rules = value_at(scenario.policy.subsidy, year)
        return [f"policy.subsidy.{year}=[{', '.join(f'[{g}, {a + amount:g}]' for g, a in rules)}]"]

    return change


def top_up_plus(amount: float) -> Callable[[Scenario, int], list[str]]:
    def change(scenario: Scenario, year: int) -> list[str]:
        return [f"policy.local_top_up.{year}={value_at(scenario.policy.local_top_up, year) + amount:g}"]

    return change


def set_value(path: str, value) -> Callable[[Scenario, int], list[str]]:
    def change(scenario: Scenario, year: int) -> list[str]:
        return [f"{path}.{year}={value}"]

    return change


def minimum_grade(grade: int) -> Callable[[Scenario, int], list[str]]:
    def change(scenario: Scenario, year: int) -> list[str]:
        grades = [g for g in value_at(scenario.policy.grades, year) if g >= grade]
        return [f"policy.grades.{year}={_yaml_list(sorted({grade, *grades}))}"]

    return change


def grades_renamed(by: int) -> Callable[[Scenario, int], list[str]]:
    def change(scenario: Scenario, year: int) -> list[str]:
        return [f"policy.grades.{year}={_yaml_list([g + by for g in value_at(scenario.policy.grades, year)])}"]

    return change


PARTICIPATION_NOT_LOWER = Check("participation_rate", "points", low=-NOISE)
DIRECTIONS = (
    Direction(
        "entry subsidy +100 yuan/year on every step",
        subsidy_plus(100),
        (PARTICIPATION_NOT_LOWER, Check("mean_contribution", "relative", -0.10, 0.10)),
    ),
    Direction("local top-up +100 yuan/month", top_up_plus(100), (Check("participation_rate", "points", low=0.0),)),
    Direction("account interest 3% a year", set_value("policy.interest_rate", 0.03), (PARTICIPATION_NOT_LOWER,)),
    Direction("publicity 0.8", set_value("policy.publicity", 0.8), (PARTICIPATION_NOT_LOWER,)),
    Direction("service quality 0.8", set_value("policy.service_quality", 0.8), (PARTICIPATION_NOT_LOWER,)),
    Direction(
        "financial education reaching everyone 16-59",
        set_value("policy.financial_education", 1.0),
        (PARTICIPATION_NOT_LOWER, Check("mean_contribution", "relative", 0.15, 0.70)),
    ),
    Direction("minimum grade 200", minimum_grade(200), (Check("participation_rate", "points", high=0.0),)),
    Direction(
        "every grade renamed +1 yuan",
        grades_renamed(1),
        (Check("participation_rate", "points", -0.005, 0.005),),
        years=2,
    ),
)


@dataclass(frozen=True)
class Result:
    """The directions' table and the reference runs' age profile."""

    table: pd.DataFrame  # lever, indicator, measure, reference, difference, low, high, bound, met
    profile: pd.DataFrame  # check, value, bound, met
    year: int
    runs: int
    residents: int
    seconds: float

    @property
    def all_met(self) -> bool:
        return bool(self.table["met"].all() and self.profile["met"].all())


def check(
    source,
    year: int = 2026,
    runs: int = 10,
    residents: int = 5000,
    workers: int = 1,
    directions: tuple[Direction, ...] = DIRECTIONS,
    coefficients: Coefficients | None = None,
    overrides: tuple = (),
) -> Result:
    """Every direction's lever against the scenario from ``year``, over paired runs, and the age profile.

    Args:
        source: a scenario file or shipped name.
        year: the year the levers apply from (the runs end ``SPAN`` - 1 years later).
        runs: paired replications (the scenario's seeds).
        residents: simulated residents aged 16+ at the start.
        workers: processes running replications (the results do not depend on it).
        directions: the levers and their checks.
        coefficients: behaviour replacing the scenario's (then no replication draws its own).
        overrides: ``path=value`` settings applied to the scenario first (as ``--set``).
    """
    started = time.perf_counter()
    scenario = load_scenario(source, overrides)
    end = year + max(d.years for d in directions) - 1
    if not scenario.start_year < year <= end <= scenario.end_year:
        raise ValueError(
            f"the levers need {year}-{end} within the scenario's {scenario.start_year + 1}-{scenario.end_year}"
        )
    indicators = sorted(
        {c.indicator for d in directions for c in d.checks} | {"participation_45_59", "participation_16_29"}
    )
    rows = []
    levers = {d.label: d.change(scenario, year) for d in directions}
    frame = effects.lever_effects(
        source,
        levers,
        (year, end),
        runs,
        residents,
        indicators,
        workers,
        spans={d.label: (year, year + d.years - 1) for d in directions},
        coefficients=coefficients,
        overrides=overrides,
    )
    for direction in directions:
        for item in direction.checks:
            row = frame[(frame["lever"] == direction.label) & (frame["indicator"] == item.indicator)].iloc[0]
            scale = 1.0 if item.measure == "points" else row["reference"]
            difference, low, high = (row[k] / scale for k in ("difference", "low", "high"))
            rows.append(
                {
                    "lever": direction.label,
                    "years": f"{year}-{year + direction.years - 1}",
                    "indicator": item.indicator,
                    "measure": item.measure,
                    "reference": row["reference"],
                    "difference": difference,
                    "low": low,
                    "high": high,
                    "bound": item.text(),
                    "met": item.met(difference),
                }
            )
    profile = age_profile(scenario, year, runs, residents, frame, coefficients)
    return Result(pd.DataFrame(rows), profile, year, runs, residents, time.perf_counter() - started)


def age_profile(
    scenario: Scenario,
    year: int,
    runs: int,
    residents: int,
    frame: pd.DataFrame,
    coefficients: Coefficients | None = None,
) -> pd.DataFrame:
    """The reference runs held to the age profile: participation 45-59 above 16-29 over the levers'
    span; participation 45-59 below CEILING_45_59 in every year from CEILING_FROM; fewer than
    CERTAIN_SHARE of the choosers aged 45-59 in ``year`` paying with probability CERTAIN or more."""
    reference = frame.drop_duplicates("indicator").set_index("indicator")["reference"]
    spec = replications.resized(scenario, residents=residents, agents="none")
    series, certain = [], []
    for job in replications.jobs_for(spec, replication_seeds(scenario.run.seed, runs), coefficients):
        series.append(replications.simulate(job).set_index("year").loc[CEILING_FROM:, "participation_45_59"])
        ages, paying = diagnostics.paying_probabilities(replications.model_at(spec, year, job[1], job[2]))
        band = (ages >= 45) & (ages <= 59)
        certain.append(float((paying[band] >= CERTAIN).mean()) if band.any() else 0.0)
    gap = reference["participation_45_59"] - reference["participation_16_29"]
    mean = pd.concat(series, axis=1).mean(axis=1)
    highest, year_of = float(mean.max()), int(mean.idxmax())
    single = max(float(s.max()) for s in series)
    return pd.DataFrame(
        [
            {
                "check": "participation 45-59 minus 16-29, mean of the span",
                "value": gap,
                "bound": "> 0",
                "met": bool(gap > 0),
            },
            {
                "check": f"highest participation 45-59 in a year from {CEILING_FROM} (mean over runs; {year_of}; the "
                f"highest single run {single:.1%})",
                "value": highest,
                "bound": f"< {CEILING_45_59:.0%}",
                "met": bool(highest < CEILING_45_59),
            },
            {
                "check": f"choosers aged 45-59 in {year} paying with probability >= {CERTAIN} (mean over runs)",
                "value": float(np.mean(certain)),
                "bound": f"< {CERTAIN_SHARE:.0%}",
                "met": bool(np.mean(certain) < CERTAIN_SHARE),
            },
        ]
    )
