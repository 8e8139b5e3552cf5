"""Scenario files: the schema, a typed, frozen description of every model input (abm/inputs/loader.py reads the files).

Units live in the field descriptions; sources live in the scenario files' comments and in
the packaged data files they reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from abm.infra.errors import CrossFieldError
from abm.inputs.coefficients import (
    CHOICE,
    DYNAMICS,
    HETEROGENEITY,
    SIGN_REASON,
    Coefficient,
    Dispersion,
    DynamicsRate,
    Valuation,
    sign_problem,
)
from abm.inputs.datafiles import (
    absolute_ref,
    dump,
    period,
)
from abm.inputs.dated import Dated, MonthDated, Year, dated_fields, value_at

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=-0.5, le=0.5)]
Yuan = Annotated[float, Field(ge=0.0, le=1_000_000.0)]
# yuan/year: ten times the national top grade of 2,000 (docs/domain.md section 1); the choice column holds it
MAX_GRADE = 20_000
Grade = Annotated[int, Field(gt=0, le=MAX_GRADE)]


def _ascending_grades(grades: list[int]) -> list[int]:
    if not grades:
        raise ValueError("needs at least one grade")
    if grades != sorted(set(grades)):
        raise ValueError(f"grades must be distinct and increasing, got {grades}")
    return grades


GradeList = Annotated[list[Grade], AfterValidator(_ascending_grades)]
MAX_NAME = 64  # characters of a scenario's or sweep's name: a folder name, with room for prefixes and temporary ones
# the POSIX portable file name characters: the same folder name on every system, nothing a shell expands
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=MAX_NAME)]


class Frozen(BaseModel):
    """A checked, immutable part of an input file: unknown keys, infinities and NaN are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PopulationSpec(Frozen):
    county: str = Field("qi_county", description="county data file: packaged name or path")
    county_overrides: dict[str, Any] = Field(
        {}, description="values replacing the county file's (same names and units)"
    )
    residents: int | None = Field(
        20_000,
        ge=100,
        le=20_000_000,
        description="simulated residents aged 16+ at the start; null = one per real resident",
    )
    agents: Literal["all", "none"] = Field(
        "all", description="Household agents, each made when asked for (model.households, model.agents), or none at all"
    )


class Indexation(Frozen):
    """Yearly growth of the basic pension after its last dated value."""

    rate: Rate = Field(0.0, description="fixed growth, per year")
    income_share: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        0.0, description="weight on the growth of mean rural income"
    )
    price_share: Annotated[float, Field(ge=0.0, le=2.0)] = Field(0.0, description="weight on inflation")


def _rounding_ladder(ladder: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Rungs [from, step] from 0 up; each rung starts at a multiple of its step and of the step below,
    so rounding never puts a higher value below a lower one."""
    if not ladder or ladder[0][0] != 0:
        raise ValueError(
            f"needs rungs [from yuan, step yuan] starting from 0, e.g. [[0, 100], [1000, 500]] (got {ladder})"
        )
    for (start, step), (previous_start, previous_step) in zip(ladder[1:], ladder):
        if start <= previous_start:
            raise ValueError(f"rungs must start at increasing amounts (got {previous_start} then {start})")
        if start % step or start % previous_step:
            raise ValueError(
                f"the rung from {start} must start at a multiple of its step {step} and of the "
                f"step below, {previous_step}"
            )
    return ladder


class GradeRevision(Frozen):
    """Revision of the grade list and subsidy steps with mean rural income after the last dated ones
    (abm/sim/policy.py ``menu_for_year``): an assumption, not law."""

    every: Annotated[int, Field(ge=0, le=50)] | None = Field(
        description="years between revisions; 0 or null: no revision (the dated lists hold)"
    )
    first_year: Year | None = Field(None, description="year of the first revision (needed when every > 0)")
    base_year: Year | None = Field(
        None,
        description="year whose mean rural income the dated lists up to it are taken to fit (a list "
        "dated later fits its own year's); needed when every > 0, at most first_year",
    )
    rounding: Annotated[
        list[tuple[Annotated[int, Field(ge=0, le=MAX_GRADE)], Grade]], AfterValidator(_rounding_ladder)
    ] = Field(
        [(0, 100), (1000, 500), (5000, 1000)],
        description="[from yuan/year, step yuan/year] from 0 up: a revised grade or subsidy threshold is "
        "rounded to the nearest multiple (halves up, at least one step) of the step of the "
        "highest rung at or below it",
    )
    subsidy_rounding: Annotated[int, Field(ge=1, le=1000)] = Field(
        10, description="yuan/year: revised subsidy amounts are rounded to the nearest multiple of it"
    )

    @property
    def active(self) -> bool:
        return bool(self.every)

    @model_validator(mode="after")
    def _years(self) -> GradeRevision:
        if self.active:
            for name in ("first_year", "base_year"):
                if getattr(self, name) is None:
                    raise CrossFieldError(
                        f"{name} is needed when every is {self.every} (or set every to 0: no revision)", name, "every"
                    )
            if self.base_year > self.first_year:
                raise CrossFieldError(
                    f"base_year {self.base_year} is after first_year {self.first_year}: a "
                    "revision moves the lists with income since the base year",
                    "base_year",
                    "first_year",
                )
        return self

    def years(self, first: int, last: int) -> list[int]:
        """The revision years within ``first``-``last`` (none if inactive)."""
        if not self.active:
            return []
        return [y for y in range(self.first_year, last + 1, self.every) if y >= first]


class PolicySpec(Frozen):
    launch_year: Year = Field(description="year the scheme starts in the county")
    launch_month: Annotated[int, Field(ge=1, le=12)] = Field(
        1,
        description="month the scheme starts; pensions are paid from it, so the launch year pays "
        "13 - launch_month months (contributions are yearly)",
    )
    collection_month: Annotated[int, Field(ge=1, le=12)] = Field(
        6,
        description="month the year's contributions and entry subsidies are paid (in the launch year not "
        "before launch_month); a pension starting in a year starts in month 7, or in the month "
        "after this one if later (abm/sim/timing.py)",
    )
    grades: Dated[GradeList] = Field(description=f"contribution grades, yuan/year (1 to {MAX_GRADE:,})")
    subsidy: Dated[list[tuple[Grade, Yuan]]] = Field(
        description="entry subsidy rules [from grade, yuan/year]: a grade gets the amount of the "
        "highest rule at or below it; every grade of every year needs a rule"
    )
    government_paid_grade: Dated[Grade] = Field(
        description="grade the government pays for the groups below, yuan/year: a grade of that year, or "
        "of an earlier year kept for these groups; a subsidy rule must cover it"
    )
    government_paid_groups: Dated[list[Literal["disabled", "poor"]]]
    basic_pension: MonthDated[Yuan] = Field(
        description="national minimum basic pension, yuan/month; dated by year or 'YYYY-MM' (from that month)"
    )
    basic_pension_indexation: Indexation = Indexation()
    local_top_up: MonthDated[Yuan] = Field(
        description="local addition to the basic pension, yuan/month; dated by year or 'YYYY-MM'"
    )
    central_share: Share = Field(1.0, description="share of the national minimum paid by the centre")
    long_contribution_bonus: MonthDated[Yuan] = Field(
        description="basic pension added per contribution year beyond min_years, yuan/month; dated by year or 'YYYY-MM'"
    )
    interest_rate: Dated[Rate] = Field(description="interest credited to accounts, per year")
    valuation_rate: Dated[Rate] | None = Field(
        None,
        description="discount rate of the yearly actuarial valuation (abm/sim/actuarial.py), per year; "
        "null: the account interest rate in force",
    )
    pension_age: Dated[Annotated[int, Field(ge=40, le=75)]] = Field(description="years of age")
    annuity_divisor: dict[Annotated[int, Field(ge=40, le=75)], Annotated[float, Field(ge=1.0, le=1000.0)]] = Field(
        description="months the account is divided by, by the pension age in force when the pension "
        "starts (interpolated between the table's ages)"
    )
    min_years: Annotated[int, Field(ge=1, le=45)] = Field(15, description="contribution years")
    backpay: bool = Field(
        True,
        description="those with fewer than min_years to go to the pension age at "
        "launch may back-pay the gap at the lowest grade, without subsidy",
    )
    subsidy_inheritable: Dated[bool] = Field(
        {1900: True},
        description="whether the subsidy part of an account (entry subsidies and government-paid "
        "contributions, with their interest) is inherited at death; if not, it "
        "returns to public money",
    )
    publicity: Dated[Share] = Field(description="intensity of publicity, 0-1")
    financial_education: Dated[Share] = Field(
        {1900: 0.0}, description="share of residents aged 16-59 taught compound interest in the year, 0-1"
    )
    service_quality: Dated[Share] = Field(description="staffing and service of the agency, 0-1")
    grade_revision: GradeRevision | None = Field(
        None,
        description="after the dated grade lists and subsidy steps: their revision with mean rural "
        "income (an assumption, not law); null: the dated values hold",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        for name in dated_fields(PolicySpec):
            if getattr(self, name) is None:
                continue
            first = period(next(iter(getattr(self, name))))[0]
            if first > self.launch_year:
                raise CrossFieldError(
                    f"first dated value {first} is after launch_year {self.launch_year}", name, "launch_year"
                )
        for year in sorted(set(self.grades) | set(self.subsidy) | set(self.government_paid_grade)):
            if year < self.launch_year:
                continue
            grades = value_at(self.grades, year)
            rules = value_at(self.subsidy, year)
            if not any(start <= grades[0] for start, _ in rules):
                raise CrossFieldError(
                    f"no subsidy rule covers grade {grades[0]} in {year} "
                    f"(rules start at {sorted(s for s, _ in rules)}); add a rule from "
                    f"{grades[0]} or lower",
                    *self._changed(year, "subsidy", "grades"),
                )
            paid = value_at(self.government_paid_grade, year)
            offered = {g for start, gs in self.grades.items() if start <= year for g in gs}
            if paid not in offered:
                raise CrossFieldError(
                    f"the government-paid grade {paid} is not a grade of {year} or earlier; "
                    f"allowed: {', '.join(map(str, sorted(offered)))}",
                    *self._changed(year, "government_paid_grade", "grades"),
                )
            if not any(start <= paid for start, _ in rules):
                raise CrossFieldError(
                    f"the government-paid grade {paid} has no subsidy rule in {year}",
                    *self._changed(year, "subsidy", "government_paid_grade"),
                )
        revision = self.grade_revision
        if revision is not None and revision.active and revision.base_year < self.launch_year:
            raise CrossFieldError(
                f"base_year {revision.base_year} is before launch_year {self.launch_year}: "
                "the lists move with the income of the scheme's years",
                "grade_revision.base_year",
                "launch_year",
            )
        return self

    def _changed(self, year: int, *names: str) -> list[str]:
        """Dated fields in force in ``year`` (``name.year``), those that change in ``year`` first:
        of two fields that disagree, the one written for that year is the likelier to change."""
        fields = [f"{name}.{max(y for y in getattr(self, name) if y <= year)}" for name in names]
        return sorted(fields, key=lambda field: not field.endswith(f".{year}"))


class EconomySpec(Frozen):
    income_growth: Dated[Rate] = Field(
        description="growth of mean rural income per year after the county's last observed year"
    )
    inflation: Dated[Rate] = Field(description="consumer price growth per year")
    basic_needs_line: Annotated[float, Field(gt=0.0, le=1_000_000.0)] = Field(
        description="basic consumption per person, yuan/year (more than 0: pensions are measured against it)"
    )
    basic_needs_year: Year = Field(description="year of basic_needs_line; other years move with income")


class BehaviourSpec(Frozen):
    coefficients: str = Field(
        "fitted", description="coefficients file: 'fitted' (the calibration), 'default' (the priors) or a path"
    )
    choice: dict[str, Coefficient] = Field(
        {}, description="choice coefficients replacing the file's (abm/sim/choice.py), utility per unit of the term"
    )
    dynamics: dict[str, DynamicsRate] = Field(
        {}, description="attitude dynamics replacing the file's, share per year (0-1)"
    )
    valuation: Valuation = Field(
        {},
        description="how residents value what paying buys, replacing the file's: discount_rate (per year, "
        "0-0.5), pivot_horizon (years, above 0), compounding_gap (share, 0-1)",
    )
    heterogeneity: dict[str, Dispersion] = Field(
        {},
        description="how households differ, replacing the file's: liquidity_sd (log standard deviation of "
        "the cost term's multiplier, 0-3)",
    )

    @model_validator(mode="after")
    def _known(self) -> BehaviourSpec:
        # valuation: a typed mapping
        for section, allowed in (("choice", CHOICE), ("dynamics", DYNAMICS), ("heterogeneity", HETEROGENEITY)):
            unknown = set(getattr(self, section)) - set(allowed)
            if unknown:
                raise CrossFieldError(f"unknown {section} {sorted(unknown)}; allowed: {', '.join(allowed)}", section)
        for name, value in self.choice.items():
            problem = sign_problem(name, value)
            if problem:
                raise CrossFieldError(f"{problem}: {SIGN_REASON}", f"choice.{name}")
        return self


class RunSpec(Frozen):
    seed: Annotated[int, Field(ge=0)] = Field(0, description="seed of the first replication's stream")
    replications: Annotated[int, Field(ge=1, le=10_000)] = Field(1, description="runs with spawned seeds")
    uncertainty: Literal["parameters", "noise"] = Field(
        "parameters",
        description="what the replications' bands cover: 'parameters', each replication also "
        "draws its behaviour coefficients from the estimates' uncertainty (with two "
        "replications or more, where the coefficients file records it); 'noise', "
        "the simulation's randomness alone",
    )
    report_years: list[Year] | None = Field(
        None,
        description="years of the summary table, within start_year-end_year; default: start, every tenth year, end",
    )


class Scenario(Frozen):
    name: Name = Field(
        description=f"used as the results folder name: letters, digits, '_', '.' and '-', at most {MAX_NAME}"
    )
    description: str = ""
    start_year: Year
    end_year: Year
    population: PopulationSpec = PopulationSpec()
    policy: PolicySpec
    economy: EconomySpec
    behaviour: BehaviourSpec = BehaviourSpec()
    run: RunSpec = RunSpec()
    source_file: Path | None = Field(None, exclude=True, description="the scenario file, if read from one")

    @property
    def source_dir(self) -> Path | None:
        """Folder that relative data paths in the scenario start from."""
        return self.source_file.parent if self.source_file else None

    @model_validator(mode="after")
    def _years(self) -> Scenario:
        if self.end_year < self.start_year:
            raise CrossFieldError(
                f"end_year {self.end_year} is before start_year {self.start_year}", "end_year", "start_year"
            )
        if self.start_year != self.policy.launch_year:
            raise CrossFieldError(
                f"start_year {self.start_year} must equal policy.launch_year "
                f"{self.policy.launch_year}: runs start when the scheme starts",
                "start_year",
                "policy.launch_year",
            )
        outside = [y for y in self.run.report_years or [] if y not in self.years]
        if outside:
            raise CrossFieldError(
                f"report years {outside} are outside the run's {self.start_year}-{self.end_year}",
                f"run.report_years.{self.run.report_years.index(outside[0])}",
            )
        return self

    @property
    def years(self) -> range:
        return range(self.start_year, self.end_year + 1)

    @property
    def report_years(self) -> list[int]:
        """Years of summary tables: as set, else start, every tenth year and the end."""
        if self.run.report_years:
            return [y for y in self.run.report_years if y in self.years]
        first, last = self.start_year, self.end_year
        return sorted({first, last, *range((first // 10 + 1) * 10, last, 10)})

    def to_yaml(self) -> str:
        """The resolved scenario, as saved next to every result. Data files named by a path relative
        to the scenario file are saved as absolute paths, so the saved file runs from its own folder."""
        data = self.model_dump(mode="json")
        data["population"]["county"] = absolute_ref(self.population.county, self.source_dir)
        if self.behaviour.coefficients != "fitted":
            data["behaviour"]["coefficients"] = absolute_ref(self.behaviour.coefficients, self.source_dir)
        return dump(data, sort_keys=False, allow_unicode=True)  # read back as written (a name 1e5 is quoted)


def replication_seeds(seed: int, runs: int) -> list[int]:
    """One seed per replication, spawned from a base seed: run i's seed never depends on how
    many runs there are or where they run."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(runs)]
