"""The county's in-migration fitted to its census population path.

Run ``python -m abm.analysis.fitting.census [SCENARIO]`` to redo the fit; it prints the value to write
into the county file (``in_migration_rate``). Mortality is the rural life table's (the county
file's ``mortality_level``, not fitted): the communique's crude death rate likely leaves out
registered residents who die away from the county, so it is a validation fact
(abm/calibration/validation.yaml), printed beside the fit, not a target. The rate is moved by the
missing population over the person-years simulated until the last census year's population
matches.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from abm.analysis.replications import county_observations
from abm.analysis.replications import run as run_replications
from abm.infra.errors import UserError
from abm.inputs.county import county_path, load_county
from abm.inputs.datafiles import DATA_DIR
from abm.inputs.loader import load_scenario
from abm.inputs.scenario import Scenario
from abm.sim.model import DEFAULT_SCENARIO

REPLICATIONS = 20
ROUNDS = 12
TOLERANCE = 0.001  # relative, on the population (the noise of 20 runs)


@dataclass(frozen=True)
class Fit:
    """The fitted rate and what the simulation gives with it (mean of the replications; the values of
    the last round evaluated when ``rounds`` ran out): the population it is fitted to and the crude
    death rate (for the comparison with the communique's)."""

    in_migration_rate: float
    year: int
    population: float
    crude_death_rate: float
    rounds: int


def crude_death_rate(ts: pd.DataFrame, year: int, start_population: float) -> float:
    """Deaths of ``year`` over the mean of the population at its start and end, per person.

    Args:
        ts: one replication's time series (``year``, ``deaths``, ``population``).
        start_population: the population before the first simulated year, persons.
    """
    by_year = ts.set_index("year")
    before = by_year["population"].get(year - 1, start_population)
    return float(by_year.at[year, "deaths"] / ((before + by_year.at[year, "population"]) / 2))


def observations(scenario: Scenario) -> dict:
    """The census observations stored for the scenario's county file."""
    observed = county_observations(scenario)
    if observed is None:
        raise UserError(
            f"no observations for this county under {DATA_DIR / 'observations'}",
            file=county_path(scenario.population.county, scenario.source_dir),
        )
    return observed


def simulate(scenario_file: Path, rate: float, year: int, replications: int) -> tuple[float, float, float]:
    """Mean crude death rate and population in ``year``, and person-years from the start to it."""
    scenario = load_scenario(
        scenario_file, [("population.county_overrides.in_migration_rate", rate), ("end_year", year)]
    )
    start = load_county(scenario).population
    ts = run_replications(scenario, runs=replications).timeseries
    cdr = [crude_death_rate(frame, year, start) for _, frame in ts.groupby("run")]
    final = ts.loc[ts.year == year, "population"].mean()
    person_years = ts.groupby("run")["population"].sum().mean()
    return sum(cdr) / len(cdr), float(final), float(person_years)


def fit(scenario_file: Path = DEFAULT_SCENARIO, replications: int = REPLICATIONS, rounds: int = ROUNDS) -> Fit:
    """Move the in-migration rate until the population of the last census year matches."""
    scenario = load_scenario(scenario_file)
    observed = observations(scenario)
    year = max(observed["population"])
    target = observed["population"][year]
    rate = load_county(scenario).in_migration_rate
    done = 0
    while True:
        cdr, population, person_years = simulate(scenario_file, rate, year, replications)
        done += 1
        if done == rounds or abs(population / target - 1) < TOLERANCE:
            return Fit(rate, year, population, cdr, done)
        rate += (target - population) / person_years


def main(argv: list[str]) -> None:
    scenario_file = Path(argv[0]) if argv else DEFAULT_SCENARIO
    result = fit(scenario_file)
    observed = observations(load_scenario(scenario_file)).get("crude_death_rate", {})
    print(f"in_migration_rate: {result.in_migration_rate:.5f}")
    reported = (
        f" (communique: {1000 * observed[result.year]:.2f}, a validation fact)" if result.year in observed else ""
    )
    print(
        f"{result.year}: population {result.population:,.0f} ({REPLICATIONS} runs, {result.rounds} rounds); "
        f"crude death rate {1000 * result.crude_death_rate:.2f} per mille{reported}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
