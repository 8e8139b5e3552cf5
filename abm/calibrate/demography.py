"""The county's mortality level and in-migration fitted to its census (crude death rate, population).

Run ``python -m abm.calibrate.demography [SCENARIO]`` to redo the fit; it prints the values to
write into the county file (``mortality_level``, ``in_migration_rate``). The two interact (the
death rate depends on who moves in; the population on who dies), so they are updated in turn
until both match: the level in proportion to the observed over the simulated death rate, the
in-migration rate by the missing population over the person-years simulated.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from abm import runner
from abm.county import county_path
from abm.datafiles import DATA_DIR
from abm.errors import UserError
from abm.model import DEFAULT_SCENARIO
from abm.population import load_county
from abm.scenario import Scenario, load_scenario

REPLICATIONS = 20
ROUNDS = 12
TOLERANCE = {"crude_death_rate": 0.00003, "population": 0.001}   # per person; relative (the noise of 20 runs)


@dataclass(frozen=True)
class Fit:
    """Fitted values and what the simulation gives with them (mean of the replications; the
    values of the last round evaluated when ``rounds`` ran out)."""

    mortality_level: float
    in_migration_rate: float
    year: int
    crude_death_rate: float
    population: float
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
    observed = runner.county_observations(scenario)
    if observed is None:
        raise UserError(f"no observations for this county under {DATA_DIR / 'observations'}",
                        file=county_path(scenario.population.county, scenario.source_dir))
    return observed


def simulate(scenario_file: Path, level: float, rate: float, year: int,
             replications: int) -> tuple[float, float, float]:
    """Mean crude death rate and population in ``year``, and person-years from the start to it."""
    scenario = load_scenario(scenario_file, [("population.county_overrides.mortality_level", level),
                                             ("population.county_overrides.in_migration_rate", rate),
                                             ("end_year", year)])
    start = load_county(scenario)["population"]
    ts = runner.run(scenario, runs=replications).timeseries
    cdr = [crude_death_rate(frame, year, start) for _, frame in ts.groupby("run")]
    final = ts.loc[ts.year == year, "population"].mean()
    person_years = ts.groupby("run")["population"].sum().mean()
    return sum(cdr) / len(cdr), float(final), float(person_years)


def fit(scenario_file: Path = DEFAULT_SCENARIO, replications: int = REPLICATIONS, rounds: int = ROUNDS) -> Fit:
    """Update the mortality level and the in-migration rate in turn until the last census year
    with a death rate matches both (crude death rate and population)."""
    scenario = load_scenario(scenario_file)
    observed = observations(scenario)
    year = max(observed["crude_death_rate"])
    target_cdr, target_population = observed["crude_death_rate"][year], observed["population"][year]
    county = load_county(scenario)
    level, rate = county["mortality_level"], county["in_migration_rate"]
    done = 0
    while True:
        cdr, population, person_years = simulate(scenario_file, level, rate, year, replications)
        done += 1
        if done == rounds or (abs(cdr - target_cdr) < TOLERANCE["crude_death_rate"]
                              and abs(population / target_population - 1) < TOLERANCE["population"]):
            return Fit(level, rate, year, cdr, population, done)
        level *= target_cdr / cdr
        rate += (target_population - population) / person_years


def main(argv: list[str]) -> None:
    result = fit(Path(argv[0]) if argv else DEFAULT_SCENARIO)
    print(f"mortality_level: {result.mortality_level:.4f}")
    print(f"in_migration_rate: {result.in_migration_rate:.5f}")
    print(f"{result.year}: crude death rate {1000 * result.crude_death_rate:.2f} per mille, "
          f"population {result.population:,.0f} ({REPLICATIONS} runs, {result.rounds} rounds)")


if __name__ == "__main__":
    main(sys.argv[1:])
