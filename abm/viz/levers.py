"""The page's levers: scenario overrides from a reform year on, and the model they build.

A lever left at the scenario's own value in the reform year changes nothing, so a fresh page
runs the scenario exactly as `pension-abm run` does; a lever moved replaces that policy
series from the reform year on.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from abm.infra.errors import UserError
from abm.inputs.county import load_county
from abm.inputs.dated import value_at
from abm.inputs.loader import load_scenario
from abm.inputs.scenario import Scenario, period
from abm.sim import diagnostics
from abm.sim.model import DEFAULT_SCENARIO, PensionModel, run_economy
from abm.sim.policy import basic_pension_path, menu_for_year

SCENARIOS = DEFAULT_SCENARIO.parent
PROJECT = SCENARIOS.parent  # the package: scenario files are listed relative to it
SCENARIO_VARIABLE = "PENSION_ABM_VIZ_SCENARIO"  # the scenario `pension-abm viz` was started with
TIERED_SHAPE = SCENARIOS / "tiered_subsidies.yaml"  # the "pay more, get more" schedule's shape
REFORM_YEAR = 2026  # first year after the data the scenarios start from
SUBSIDY_SCHEDULES = ("as in scenario", "flat", "tiered")
MINIMUM_GRADES = (100, 200, 300, 500)
RESIDENTS_SHOWN = 5_000


@dataclass(frozen=True)
class Levers:
    """One value per control. Units: shares 0-1, yuan/year for grades and subsidies, yuan/month
    for the basic pension, rates per year, ages in years."""

    reform_year: int
    publicity: float
    service_quality: float
    subsidy_schedule: Literal["as in scenario", "flat", "tiered"]
    subsidy_level: int  # flat: every grade; tiered: the lowest grade (others scale with it)
    minimum_grade: int
    basic_pension: int
    basic_pension_growth: float  # extra yearly growth on top of the scenario's indexation rule
    interest_rate: float
    pension_age: int
    financial_education: float  # share of residents 16-59 taught compound interest each year
    residents: int


def scenario_levers(spec: Scenario, reform_year: int = REFORM_YEAR) -> Levers:
    """The levers as the scenario sets them in the reform year (its grades and subsidies as revised then)."""
    policy, year = spec.policy, min(max(reform_year, spec.start_year + 1), spec.end_year)  # within the run
    economy = run_economy(spec, load_county(spec))
    path = basic_pension_path(policy, economy, spec.years)
    grades, rules = menu_for_year(policy, year, economy)
    return Levers(
        reform_year=year,
        publicity=value_at(policy.publicity, year),
        service_quality=value_at(policy.service_quality, year),
        subsidy_schedule="as in scenario",
        subsidy_level=int(rules[0][1]),
        minimum_grade=grades[0],
        basic_pension=round(path[year]),
        basic_pension_growth=policy.basic_pension_indexation.rate,
        interest_rate=value_at(policy.interest_rate, year),
        pension_age=value_at(policy.pension_age, year),
        financial_education=value_at(policy.financial_education, year),
        residents=spec.population.residents or RESIDENTS_SHOWN,
    )


def overrides(spec: Scenario, levers: Levers) -> list[tuple[str, Any]]:
    """Scenario overrides (path, value) for the levers that differ from the scenario's own."""
    own, year, policy = scenario_levers(spec, levers.reform_year), levers.reform_year, spec.policy
    grades_in_force, rules_in_force = menu_for_year(policy, year, run_economy(spec, load_county(spec)))
    changed = {name for name, value in asdict(levers).items() if value != getattr(own, name)}
    result: list[tuple[str, Any]] = []

    def from_reform(field: str, value: Any) -> None:
        dated = getattr(policy, field)
        result.append((f"policy.{field}", {**{y: v for y, v in dated.items() if period(y) < (year, 1)}, year: value}))

    for name in {"publicity", "service_quality", "interest_rate", "pension_age", "financial_education"} & changed:
        from_reform(name, getattr(levers, name))
    if "minimum_grade" in changed:
        grades = {levers.minimum_grade, *(g for g in grades_in_force if g > levers.minimum_grade)}
        from_reform("grades", sorted(grades))
    if levers.subsidy_schedule != "as in scenario" or "subsidy_level" in changed:
        from_reform("subsidy", subsidy_rules(levers, rules_in_force))
    if "basic_pension" in changed:
        from_reform("basic_pension", levers.basic_pension)
    if "basic_pension_growth" in changed:
        result.append(("policy.basic_pension_indexation.rate", levers.basic_pension_growth))
    if "residents" in changed:
        result.append(("population.residents", levers.residents))
    return result


def subsidy_rules(levers: Levers, current: list) -> list[list[int]]:
    """[from grade, yuan/year] rules: the scenario's rescaled, flat, or the tiered shape."""
    if levers.subsidy_schedule == "flat":
        return [[1, levers.subsidy_level]]
    shape = tiered_shape() if levers.subsidy_schedule == "tiered" else [list(rule) for rule in current]
    lowest = shape[0][1]
    if lowest == 0:  # nothing to scale: shift every rule by the new amount instead
        return [[grade, amount + levers.subsidy_level] for grade, amount in shape]
    return [[grade, round(amount * levers.subsidy_level / lowest)] for grade, amount in shape]


@lru_cache(maxsize=1)
def tiered_shape() -> tuple[tuple[int, int], ...]:
    """The latest schedule of the tiered-subsidies scenario (Anhui's, docs/domain.md section 1)."""
    subsidy = load_scenario(TIERED_SHAPE).policy.subsidy
    return tuple(tuple(rule) for rule in subsidy[max(subsidy)])


def scenario_choices(selected: str | Path) -> list[str]:
    """The shipped scenario files, and the selected one wherever it lives."""
    shipped = sorted(str(p.relative_to(PROJECT)) for p in SCENARIOS.glob("*.yaml"))
    selected = str(selected)
    return shipped if selected in shipped else [selected, *shipped]


class CountyModel(PensionModel):
    """PensionModel built from a scenario file and the page's levers (keyword arguments only,
    so that SolaraViz's Reset can rebuild it from the controls).

    A policy lever that is None, or equal to its value in ``untouched`` (where the page's
    controls started), takes the scenario's own value in the reform year: choosing another
    scenario or reform year then runs that scenario as it is, except for the levers the user
    moved. The number of residents always applies when given.
    """

    def __init__(
        self,
        *,
        scenario_file: str = str(DEFAULT_SCENARIO),
        reform_year: int = REFORM_YEAR,
        publicity: float | None = None,
        service_quality: float | None = None,
        subsidy_schedule: str = "as in scenario",
        subsidy_level: int | None = None,
        minimum_grade: int | None = None,
        basic_pension: int | None = None,
        basic_pension_growth: float | None = None,
        interest_rate: float | None = None,
        pension_age: int | None = None,
        financial_education: float | None = None,
        residents: int | None = None,
        seed: str | int | None = None,
        untouched: dict | None = None,
    ):
        spec = load_scenario(scenario_path(scenario_file))
        own = asdict(scenario_levers(spec, int(reform_year)))
        given = {
            "publicity": publicity,
            "service_quality": service_quality,
            "subsidy_schedule": subsidy_schedule,
            "subsidy_level": subsidy_level,
            "minimum_grade": minimum_grade,
            "basic_pension": basic_pension,
            "basic_pension_growth": basic_pension_growth,
            "interest_rate": interest_rate,
            "pension_age": pension_age,
            "financial_education": financial_education,
            "residents": residents,
            "seed": seed,
        }
        moved = {
            k: v
            for k, v in given.items()
            if v not in (None, "") and (k == "residents" or not (untouched and untouched.get(k) == v))
        }
        self.levers = Levers(**own | {k: v for k, v in moved.items() if k != "seed"})
        changes = overrides(spec, self.levers)
        if "seed" in moved:
            changes.append(("run.seed", _seed(moved["seed"])))
        super().__init__(scenario=load_scenario(spec.source_file, changes) if changes else spec)
        self.before: CountyModel | None = None  # the county as the last step found it (explain_shown)

    def step(self) -> None:
        self.before = self._twin()
        super().step()

    def explain_shown(self, resident_id: int) -> dict:
        """abm/sim/diagnostics.py explain of the year the map shows (the last simulated, or the first before any
        step), worked out on a copy: this model is left as it is. The resident's village is added.

        Raises:
            LookupError: the resident was not in the county then, or did not choose a grade.
        """
        twin = (self.before or self)._twin()
        result = diagnostics.explain(twin, resident_id)
        row = int(twin.population.rows(np.array([resident_id]))[0])
        result["resident"]["village"] = int(twin.population.village[row])
        return result

    def _twin(self) -> CountyModel:
        """A copy sharing all but what a year's opening changes: the residents' columns, the random
        generator, the Government (whose step sets its model's policy) and the year."""
        twin = copy.copy(self)
        twin.population = self.population.copy()
        twin.rng = copy.deepcopy(self.rng)
        twin.government = copy.copy(self.government)
        twin.government.model = twin
        twin.before = None
        return twin


def scenario_path(scenario_file: str) -> Path:
    """A scenario file as given, or one the page lists relative to the project folder."""
    path, listed = Path(scenario_file), PROJECT / scenario_file
    return listed if not path.is_absolute() and not path.exists() and listed.exists() else path


def _seed(seed: str | int) -> int:
    try:
        value = int(seed)
    except ValueError:
        value = -1
    if value < 0:
        raise UserError(f"the seed must be a whole number >= 0, got {seed!r}", field="seed")
    return value
