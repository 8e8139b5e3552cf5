"""Search files: the schema of a policy search (base scenario, levers with their domains, objectives,
constraints, uncertain scenarios, replications, budget, seed), read and checked before anything runs.

A search file is checked like a scenario or a sweep: every problem is one :class:`UserError` naming
the file, the line and the field. Beyond the schema, every lever's extreme values, every uncertain
field's bounds and every measure's indicator and years are tried on the base scenario.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from abm.infra.errors import CrossFieldError, UserError
from abm.infra.paths import PACKAGE
from abm.inputs.datafiles import depth_and_line, shipped_file
from abm.inputs.dated import Year
from abm.inputs.loader import FROM_OVERRIDES, Layer, load_scenario, read_layer, validate
from abm.inputs.scenario import Frozen, Name, Scenario
from abm.inputs.study import Study

SEARCHES_DIR = PACKAGE / "searches"  # the shipped searches (the repository's searches/ links here)
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=40)]
STATISTICS = ("mean", "sum", "min", "max", "value")
FUNCTIONS = ("zdt1",)  # test problems with a known front, run through the same search path


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class Lever(Frozen):
    """A policy lever: a scenario field (from a year, for dated fields) and the values it may take."""

    name: Identifier
    field: str | None = Field(None, description="scenario field, e.g. policy.local_top_up (not for test functions)")
    year: Year | None = Field(None, description="the year the value holds from (dated fields)")
    type: Literal["integer", "float", "choice", "binary"]
    bounds: tuple[float, float] | None = Field(None, description="integer, float: [low, high]")
    step: Annotated[float, Field(gt=0)] | None = Field(
        None, description="integer: the grid's step (default 1); float: a grid instead of any real value"
    )
    choices: list[Any] | None = Field(None, description="choice: the values, any YAML")
    labels: list[str] | None = Field(None, description="choice: a short name per value, for tables and figures")
    values: tuple[Any, Any] | None = Field(None, description="binary: the values [off, on] (default [false, true])")
    unit: str = Field("", description="the unit of the values, for tables")

    @model_validator(mode="after")
    def _domain(self) -> Lever:
        allowed = {
            "integer": {"bounds", "step"},
            "float": {"bounds", "step"},
            "choice": {"choices", "labels"},
            "binary": {"values"},
        }[self.type]
        for option in ("bounds", "step", "choices", "labels", "values"):
            if getattr(self, option) is not None and option not in allowed:
                raise CrossFieldError(
                    f"{option} is not an option of a {self.type} lever (its options: {', '.join(sorted(allowed))})",
                    option,
                )
        if self.type in ("integer", "float"):
            if self.bounds is None:
                raise CrossFieldError(f"a {self.type} lever needs bounds: [low, high]", "type")
            low, high = self.bounds
            if self.type == "integer" and not (
                float(low).is_integer() and float(high).is_integer() and float(self.step or 1).is_integer()
            ):
                raise CrossFieldError(
                    f"an integer lever's bounds and step are whole numbers, got {list(self.bounds)}"
                    f"{f' step {self.step:g}' if self.step else ''}",
                    "bounds",
                )
            if high < low:
                raise CrossFieldError(f"empty domain: bounds [{low:g}, {high:g}] hold no value ([low, high])", "bounds")
            if high == low:
                raise CrossFieldError(
                    f"bounds [{low:g}, {high:g}] hold one value: a lever needs at least two "
                    "(set it in the base scenario or in set: instead)",
                    "bounds",
                )
            step = self.grid_step
            if step is not None:
                count = (high - low) / step
                if abs(count - round(count)) > 1e-9 * max(1.0, count):
                    raise CrossFieldError(
                        f"the step {step:g} does not lead from {low:g} to {high:g}: the high bound "
                        "must be low + a whole number of steps",
                        "step",
                    )
        elif self.type == "choice":
            if not self.choices:
                raise CrossFieldError("empty domain: choices holds no value; give at least two", "choices")
            if len(self.choices) < 2:
                raise CrossFieldError(
                    "one choice: a lever needs at least two (set it in the base scenario or in set: instead)", "choices"
                )
            repeated = next((i for i, c in enumerate(self.choices) if any(_same(c, d) for d in self.choices[:i])), None)
            if repeated is not None:
                raise CrossFieldError(f"choice {repeated} repeats an earlier one", f"choices.{repeated}")
            if self.labels is not None:
                if len(self.labels) != len(self.choices):
                    raise CrossFieldError(
                        f"{len(self.labels)} labels for {len(self.choices)} choices: give one label per choice",
                        "labels",
                    )
                if len(set(self.labels)) < len(self.labels):
                    raise CrossFieldError(f"labels repeat: {self.labels}", "labels")
        elif self.values is not None and _same(self.values[0], self.values[1]):
            raise CrossFieldError(f"the two values are the same ({self.values[0]!r}): nothing to switch", "values")
        return self

    @property
    def grid_step(self) -> float | None:
        """The step of a grid lever (integer, or float with a step); None for a real-valued one."""
        if self.type == "integer":
            return float(self.step or 1)
        return self.step if self.type == "float" else None

    @property
    def size(self) -> int | None:
        """How many values the lever may take (None: any real value within the bounds)."""
        if self.type == "choice":
            return len(self.choices)
        if self.type == "binary":
            return 2
        step = self.grid_step
        return None if step is None else round((self.bounds[1] - self.bounds[0]) / step) + 1

    @property
    def path(self) -> str | None:
        """The scenario field the lever sets, dotted, with its year."""
        if self.field is None:
            return None
        return f"{self.field}.{self.year}" if self.year is not None else self.field

    def variable(self):
        """The pymoo variable of the lever: an index into the grid or the choices, a real or a bit."""
        from pymoo.core.variable import Binary, Choice, Integer, Real

        if self.type == "choice":
            return Choice(options=list(range(len(self.choices))))
        if self.type == "binary":
            return Binary()
        if self.grid_step is None:
            return Real(bounds=tuple(self.bounds))
        return Integer(bounds=(0, self.size - 1))

    def code(self, x: Any) -> int | float | bool:
        """The lever's pymoo value as a plain number: an index, a float or a bool (the archive's key)."""
        if self.type == "binary":
            return bool(x)
        if self.type == "float" and self.grid_step is None:
            return float(x)
        return int(x)

    def value(self, code: int | float | bool) -> Any:
        """The scenario value of a coded lever value."""
        if self.type == "choice":
            return self.choices[int(code)]
        if self.type == "binary":
            return (self.values or (False, True))[int(bool(code))]
        step = self.grid_step
        if step is None:
            return float(code)
        number = self.bounds[0] + int(code) * step
        return round(number) if self.type == "integer" else round(number, 12)

    def shown(self, code: int | float | bool) -> str:
        """The value as a table shows it: its label, or the number."""
        if self.type == "choice" and self.labels:
            return self.labels[int(code)]
        value = self.value(code)
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, float):
            return f"{value:.3g}"
        return json.dumps(value, separators=(", ", ": ")) if isinstance(value, list | dict) else str(value)

    def position(self, code: int | float | bool) -> float:
        """Where the value lies in the domain, 0 (low, first choice, off) to 1 (high, last choice, on)."""
        if self.type == "binary":
            return float(bool(code))
        if self.type == "float" and self.grid_step is None:
            return (float(code) - self.bounds[0]) / (self.bounds[1] - self.bounds[0])
        return int(code) / (self.size - 1)

    def extremes(self) -> list[Any]:
        """The values tried on the base scenario when the file is read: every choice, both bounds, both values."""
        if self.type == "choice":
            return list(self.choices)
        if self.type == "binary":
            return list(self.values or (False, True))
        return [self.value(0), self.value(self.size - 1) if self.size else float(self.bounds[1])]


class Measure(Frozen):
    """An indicator reduced to one number per run (a statistic over years), then over runs (mean or a quantile)."""

    name: Identifier
    indicator: str = Field(description="a time-series column (results/README.md), or a test function's output")
    statistic: Literal["mean", "sum", "min", "max", "value"] = Field(
        "mean", description="over the years: mean, sum, min or max over years [first, last], or the value in year"
    )
    years: tuple[Year, Year] | None = Field(None, description="mean, sum, min, max: [first, last] year")
    year: Year | None = Field(None, description="value: the year")
    quantile: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        None, description="over runs: this quantile (0.1: the 10th percentile); default: the mean over runs"
    )

    @model_validator(mode="after")
    def _years(self) -> Measure:
        if self.statistic == "value" and self.years is not None:
            raise CrossFieldError("the value statistic takes one year (year: Y), not years", "years")
        if self.statistic != "value" and self.year is not None:
            raise CrossFieldError(
                f"the {self.statistic} statistic runs over years: [first, last], not year (or use statistic: value)",
                "year",
            )
        if self.years is not None and self.years[0] > self.years[1]:
            raise CrossFieldError(f"years are [first, last], got {list(self.years)}", "years")
        return self

    def describe(self) -> str:
        """In words: 'participation rate, mean over 2026-2035, 10th percentile over runs'."""
        from abm.sim import outcomes

        try:
            label = outcomes.label(self.indicator)
        except KeyError:
            label = self.indicator
        when = {"value": f"in {self.year}" if self.year else ""}.get(
            self.statistic, f"{self.statistic} over {self.years[0]}-{self.years[1]}" if self.years else self.statistic
        )
        return ", ".join(p for p in (label, when, self.over_runs()) if p)

    def over_runs(self) -> str:
        if self.quantile is None:
            return "mean over runs"
        percent = 100 * self.quantile
        number = f"{percent:.0f}" if float(percent).is_integer() else f"{percent:g}"
        suffix = (
            "th" if number.endswith(("11", "12", "13")) else {"1": "st", "2": "nd", "3": "rd"}.get(number[-1], "th")
        )
        return f"{number}{suffix} percentile over runs"


class Objective(Measure):
    direction: Literal["minimize", "maximize"]


class Constraint(Measure):
    at_least: float | None = Field(None, description="the measure must be at least this (the indicator's stored unit)")
    at_most: float | None = Field(None, description="the measure must be at most this")

    @model_validator(mode="after")
    def _bound(self) -> Constraint:
        if (self.at_least is None) == (self.at_most is None):
            raise CrossFieldError(
                "give one bound: at_least or at_most", "at_most" if self.at_most is not None else "at_least"
            )
        return self

    @property
    def bound(self) -> float:
        return self.at_least if self.at_least is not None else self.at_most

    def margin(self, value: float) -> float:
        """How far the value is inside the bound (negative: the constraint is not met)."""
        return value - self.at_least if self.at_least is not None else self.at_most - value

    def text(self) -> str:
        """'participation rate, in 2035, 10th percentile over runs, at least 75.0%'."""
        from abm.sim import outcomes

        try:
            bound = outcomes.number(self.indicator, self.bound) + (
                "%" if outcomes.shown_unit(self.indicator) == "%" else f" {outcomes.shown_unit(self.indicator)}"
            )
        except KeyError:
            bound = f"{self.bound:g}"
        return f"{self.describe()}, {'at least' if self.at_least is not None else 'at most'} {bound}"


class Uncertainty(Frozen):
    """A scenario field we do not know, with the range it may take."""

    name: Identifier
    field: str = Field(description="scenario field with its year if dated, e.g. economy.income_growth.2026")
    bounds: tuple[float, float]
    type: Literal["float", "integer"] = "float"

    @model_validator(mode="after")
    def _range(self) -> Uncertainty:
        if not self.bounds[0] < self.bounds[1]:
            raise CrossFieldError(f"bounds must be [low, high] with low < high, got {list(self.bounds)}", "bounds")
        return self

    def value(self, u: float) -> float | int:
        """The field's value at ``u`` in [0, 1) of its range."""
        low, high = self.bounds
        if self.type == "integer":
            return int(min(math.floor(low + u * (high - low + 1)), high))
        return float(low + u * (high - low))


class Search(Study):
    KIND: ClassVar[str] = "search"
    FUNCTIONS: ClassVar[str] = "a test problem"

    name: Name
    description: str = ""
    function: Literal["zdt1"] | None = Field(None, description="a test problem with a known front instead of the model")
    levers: list[Lever] = Field(min_length=1)
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Constraint] = []
    reported: list[Measure] = Field([], description="measures reported for every policy (with bands), not optimised")
    cost: Identifier | None = Field(
        None, description="the objective the cheapest policy minimises (default: the first objective to minimise)"
    )
    uncertainties: list[Uncertainty] = []
    scenarios: Annotated[int, Field(ge=0, le=100)] = Field(
        0, description="uncertain scenarios sampled (Latin hypercube) besides the base scenario as written"
    )
    replications: Annotated[int, Field(ge=1, le=1000)] = Field(
        2, description="runs per scenario and policy, the same seeds for every policy"
    )
    final_replications: Annotated[int, Field(ge=1, le=10_000)] = Field(
        10, description="runs per scenario when the front is run again at the end"
    )
    final_policies: Annotated[int, Field(ge=1, le=1000)] = Field(
        12, description="at most this many policies of the front are run again (spread along the cost)"
    )
    final_near: Annotated[int, Field(ge=0, le=1000)] = Field(
        3,
        description="also run again: this many policies cheaper than the cheapest feasible one that missed a "
        "constraint by the least in the search",
    )
    budget: Annotated[int, Field(ge=2, le=1_000_000)] = Field(description="evaluations (policies) the search asks for")
    population: Annotated[int, Field(ge=4, le=10_000)] = Field(24, description="policies per generation")
    algorithm: Literal["nsga2", "nsga3"] = "nsga2"
    seed: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _consistent(self) -> Search:
        seen: dict[str, str] = {}
        for kind in ("levers", "objectives", "constraints", "reported", "uncertainties"):
            for i, item in enumerate(getattr(self, kind)):
                if item.name in seen:
                    raise CrossFieldError(
                        f"the name {item.name!r} is used twice (also in {seen[item.name]}): names "
                        "are columns of the results",
                        f"{kind}.{i}.name",
                    )
                seen[item.name] = kind
        for i, lever in enumerate(self.levers):
            if self.base is not None and lever.field is None:
                raise CrossFieldError(
                    "a lever of a scenario search needs a field (the scenario field it sets)", f"levers.{i}"
                )
            if self.function is not None and lever.field is not None:
                raise CrossFieldError("a test problem's levers take no field", f"levers.{i}.field")
        if self.function is not None:
            for kind in ("objectives", "constraints", "reported"):
                for i, measure in enumerate(getattr(self, kind)):
                    if measure.statistic != "value" or measure.year is not None:
                        raise CrossFieldError(
                            "a test problem gives one value per run: statistic: value, no year", f"{kind}.{i}.statistic"
                        )
            if self.uncertainties:
                raise CrossFieldError("a test problem has no scenario fields to be uncertain", "uncertainties")
        else:
            for kind in ("objectives", "constraints", "reported"):
                for i, measure in enumerate(getattr(self, kind)):
                    if measure.statistic == "value" and measure.year is None:
                        raise CrossFieldError("the value statistic needs its year: year: Y", f"{kind}.{i}.statistic")
                    if measure.statistic != "value" and measure.years is None:
                        raise CrossFieldError(
                            f"the {measure.statistic} statistic needs its years: [first, last]", f"{kind}.{i}.statistic"
                        )
        if self.scenarios and not self.uncertainties:
            raise CrossFieldError(
                f"{self.scenarios} scenarios sampled, but no uncertainties to sample: add "
                "uncertainties or set scenarios: 0",
                "scenarios",
            )
        if self.uncertainties and not self.scenarios:
            raise CrossFieldError(
                "uncertainties are sampled into scenarios: give scenarios: N (at least 1)", "uncertainties"
            )
        if self.cost is not None:
            objective = next((o for o in self.objectives if o.name == self.cost), None)
            if objective is None:
                names = ", ".join(o.name for o in self.objectives)
                raise CrossFieldError(f"cost names no objective; objectives: {names}", "cost")
            if objective.direction != "minimize":
                raise CrossFieldError(f"the cost objective {self.cost!r} must be minimised", "cost")
        elif not any(o.direction == "minimize" for o in self.objectives):
            raise CrossFieldError(
                "no objective to minimise: the cheapest policy needs a cost (an objective with direction: minimize)",
                "objectives",
            )
        if self.final_replications < self.replications:
            raise CrossFieldError(
                f"final_replications ({self.final_replications}) must be at least replications "
                f"({self.replications}): the final stage adds runs to the search's",
                "final_replications",
            )
        if self.budget < self.population:
            raise CrossFieldError(
                f"the budget ({self.budget}) is smaller than one generation (population {self.population})", "budget"
            )
        if self.algorithm == "nsga3" and len(self.objectives) < 2:
            raise CrossFieldError("nsga3 needs two objectives or more; use nsga2", "algorithm")
        return self

    @property
    def cost_objective(self) -> Objective:
        name = self.cost or next(o.name for o in self.objectives if o.direction == "minimize")
        return next(o for o in self.objectives if o.name == name)

    @property
    def measures(self) -> list[Measure]:
        """Every measure scored: the objectives, the constraints, the measures only reported."""
        return [*self.objectives, *self.constraints, *self.reported]


def load_search(path: str | Path) -> Search:
    """Read and check a search file (a path, or a shipped search's name); nothing is run or written."""
    path = shipped_file(path, SEARCHES_DIR, "search")
    layer = read_layer(path, "name, base or function, levers, objectives, budget")
    search = validate(Search, {**layer.data, "source_file": Path(path).resolve()}, [layer])
    if search.base is not None:
        check_against_base(search, path, layer)
    return search


def check_against_base(search: Search, path: Path, layer: Layer | None = None) -> Scenario:
    """The fixed overrides, every lever's extreme values, every uncertain field's bounds and every
    measure's indicator and years, tried on the base scenario; returns the base with the overrides."""
    from abm.sim.indicators import names
    from abm.sim.model import run_grades

    def line(*loc) -> int | None:
        return depth_and_line(layer.node, loc)[1] if layer is not None else None

    scenario = search.base_scenario(path, layer)
    base = search.base_path()
    known = set(names(run_grades(scenario)))
    for kind in ("objectives", "constraints", "reported"):
        for i, measure in enumerate(getattr(search, kind)):
            if measure.indicator not in known:
                raise UserError(
                    f"unknown indicator {measure.indicator!r}: not a column of the runs (results/README.md lists them)",
                    file=path,
                    field=f"{kind}[{i}].indicator",
                    line=line(kind, i, "indicator"),
                )
            years = [measure.year] if measure.year else list(measure.years)
            if not all(y in scenario.years for y in years):
                key = "year" if measure.year else "years"
                raise UserError(
                    f"{key} {years if len(years) > 1 else years[0]} outside the scenario's "
                    f"{scenario.start_year}-{scenario.end_year}",
                    file=path,
                    field=f"{kind}[{i}].{key}",
                    line=line(kind, i, key),
                )
    for i, lever in enumerate(search.levers):
        if lever.year is not None and lever.year not in scenario.years:
            raise UserError(
                f"{lever.year} is outside the scenario's {scenario.start_year}-{scenario.end_year}: the "
                "lever would change nothing",
                file=path,
                field=f"levers[{i}].year",
                line=line("levers", i, "year"),
            )
        for value in lever.extremes():
            _try(
                base,
                search,
                (lever.path, value),
                path,
                f"levers[{i}] ({lever.name}: {lever.path})",
                line("levers", i, "field"),
            )
    for i, uncertain in enumerate(search.uncertainties):
        for value in (uncertain.value(0.0), uncertain.value(1.0 - 1e-12)):
            _try(
                base,
                search,
                (uncertain.field, value),
                path,
                f"uncertainties[{i}] ({uncertain.name}: {uncertain.field})",
                line("uncertainties", i, "field"),
            )
    return scenario


def _try(base: Path, search: Search, override: tuple[str, Any], path: Path, field: str, line: int | None) -> None:
    try:
        load_scenario(base, [*search.set.items(), override])
    except UserError as err:
        raise UserError(
            f"the value {override[1]!r} does not fit the scenario: "
            f"{err.message.removesuffix(FROM_OVERRIDES)} ({err.field})",
            file=path,
            field=field,
            line=line,
        ) from None
