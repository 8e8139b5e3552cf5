"""Demography: the population's accounts, its calibration to the census, and the sampling of events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abm.analysis.fitting import census as calibration
from abm.analysis.fitting.census import crude_death_rate, fit, observations
from abm.inputs.county import load_county
from abm.sim.demography import SEXES, LifeTable, age_away, systematic_draw
from abm.sim.model import PensionModel
from helpers import BASELINE, small, with_population


def simulate(scenario) -> tuple[float, float, pd.DataFrame]:
    """Population before the first year, the weight of a simulated resident, the time series."""
    model = PensionModel(scenario=scenario)
    pop = model.population
    start = len(pop) * pop.weight + float(pop.under_16.sum())
    while model.running:
        model.step()
    return start, pop.weight, model.datacollector.get_model_vars_dataframe().set_index("year")


@pytest.fixture(scope="module")
def baseline_run(baseline):
    return simulate(baseline)


def with_county(scenario, **values):
    return with_population(scenario, county_overrides=values)


def test_population_accounts_balance_every_year(baseline_run):
    """population(t) = population(t-1) + births - deaths + in - out, up to the rounding of each
    year's 16-year-olds (counted as persons) into whole simulated residents: under one weight."""
    start, weight, ts = baseline_run
    previous = ts["population"].shift(1).fillna(start)
    residual = ts["population"] - previous - ts["births"] + ts["deaths"] - ts["in_migrants"] + ts["out_migrants"]
    assert (residual.abs() < weight).all(), residual[residual.abs() >= weight]
    assert (ts[["births", "deaths", "in_migrants", "out_migrants"]] > 0).all().all()


def test_start_is_the_2010_census(baseline, baseline_run):
    start, _, _ = baseline_run
    assert start == pytest.approx(observations(baseline)["population"][2010])


@pytest.mark.parametrize("sex", ["female", "male"])
def test_life_expectancy_at_60_is_the_rural_tables(baseline, sex):
    """The county's mortality is the rural life table's: life expectancy at 60 within 1.5 years of the
    table's (19.0 men, 22.1 women), not the 25 years a level fitted to the communique's death rate gave."""

    def e60(life: LifeTable) -> float:
        lx = life.survivorship(SEXES.index(sex))
        return lx[61:].sum() / lx[60] + 0.5

    county = LifeTable.for_county(load_county(baseline))
    assert abs(e60(county) - e60(LifeTable.from_csv())) < 1.5
    assert 18 < e60(county) < 24


def test_the_communiques_death_rate_is_below_the_simulated_one(baseline, baseline_run):
    """Not fitted: with the rural table the 2019 crude death rate lies above the communique's 6.09 per
    mille, which leaves out registered residents who die away from the county (a validation fact)."""
    start, _, ts = baseline_run
    observed = observations(baseline)["crude_death_rate"][2019]
    assert crude_death_rate(ts.reset_index(), 2019, start) > observed


def test_population_tracks_the_census(baseline, baseline_run):
    """End-2019 population within 2% of the communique's figure."""
    _, _, ts = baseline_run
    observed = observations(baseline)["population"][2019]
    assert abs(ts.at[2019, "population"] / observed - 1) < 0.02


def test_births_at_the_county_birth_rate(baseline, baseline_run):
    """Births are the birth rate times the population at the start of the year; per mid-year
    population, within 0.1 per mille of 7.34 while the population grows slowly (to 2019)."""
    start, _, ts = baseline_run
    rate = load_county(baseline).birth_rate
    previous = ts["population"].shift(1).fillna(start)
    np.testing.assert_allclose(ts["births"], rate * previous, rtol=1e-12)
    mid_year = (previous + ts["population"]) / 2
    assert ((ts["births"] / mid_year).loc[:2019] - rate).abs().max() < 0.0001


def test_share_60_plus_is_of_the_whole_population(baseline_run):
    """Between 0 and 1, rising as the county ages."""
    _, _, ts = baseline_run
    share = ts["share_60_plus"]
    assert share.between(0, 1).all() and share[2050] > share[2020] > share[2011]


def test_a_higher_mortality_level_means_more_deaths(baseline):
    """Deaths are higher every year under a higher level. Doubling it less than doubles the first
    year's deaths: the synthesised county's oldest ages (within the census's 65+ band, shaped by
    survivorship) are fuller under the lower level."""
    short = small(baseline, residents=20_000, end_year=2016)
    _, _, low = simulate(with_county(short, mortality_level=0.5))
    _, _, high = simulate(with_county(short, mortality_level=1.0))
    assert (high["deaths"] > low["deaths"]).all()
    assert 1.2 < high.at[2011, "deaths"] / low.at[2011, "deaths"] < 2.0


def test_without_migration_in_nobody_arrives(baseline):
    """No in-migration and no returns: only out-migrants move, and the population is smaller."""
    short = small(baseline, residents=5000, end_year=2016)
    _, _, closed = simulate(with_county(short, in_migration_rate=0.0, return_migration_rate=0.0))
    _, _, open_ = simulate(short)
    assert (closed["in_migrants"] == 0).all() and (closed["out_migrants"] > 0).all()
    assert (closed["population"] < open_["population"]).all()


@pytest.mark.slow
def test_county_file_values_reproduce_the_target_on_average(baseline):
    """Over five replications the county file's in-migration gives the 2019 population (within 0.5%)
    it was fitted to."""
    observed = observations(baseline)
    _, population, _ = calibration.simulate(BASELINE, load_county(baseline).in_migration_rate, 2019, 5)
    assert abs(population / observed["population"][2019] - 1) < 0.005


@pytest.mark.slow
def test_fit_moves_a_bad_start_towards_the_county_file(tmp_path, baseline):
    """From no in-migration, a few rounds on one replication bring the rate within 10% of the fitted one."""
    start = tmp_path / "start.yaml"
    start.write_text(
        f"extends: {BASELINE}\nname: start\npopulation: {{county_overrides: {{in_migration_rate: 0.0}}}}\n"
    )
    result = fit(start, replications=1, rounds=4)
    assert result.in_migration_rate == pytest.approx(load_county(baseline).in_migration_rate, rel=0.1)


def test_systematic_draw_has_the_given_probabilities_and_a_near_exact_count():
    rng = np.random.default_rng(1)
    probability = rng.uniform(0, 0.3, 400)
    draws = np.array([systematic_draw(probability, rng) for _ in range(3000)])
    counts = draws.sum(axis=1)
    assert set(counts) <= {int(np.floor(probability.sum())), int(np.ceil(probability.sum()))}
    assert np.abs(draws.mean(axis=0) - probability).max() < 0.04


def test_those_away_age_survive_and_return_at_the_rate():
    life = LifeTable.from_csv()
    away = np.zeros(life.last_age + 1)
    away[30] = 1000.0
    still, returning = age_away(away, life, 0.1)
    survivors = 1000 * (1 - life.qx.mean(axis=0)[30])
    assert returning[31] == pytest.approx(0.1 * survivors) and still[31] == pytest.approx(0.9 * survivors)
    assert still.sum() + returning.sum() == pytest.approx(survivors)


def test_crude_death_rate_is_per_mid_year_population():
    ts = pd.DataFrame({"year": [2011, 2012], "deaths": [10.0, 30.0], "population": [900.0, 1100.0]})
    assert crude_death_rate(ts, 2012, 1000.0) == pytest.approx(30 / 1000)
    assert crude_death_rate(ts, 2011, 1000.0) == pytest.approx(10 / 950)
