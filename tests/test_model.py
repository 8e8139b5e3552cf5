"""PensionModel: reproducibility, the data collector, Household row views, launch pensioners, stylised facts."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

from abm.analysis.replications import run
from abm.inputs.scenario import GradeRevision
from abm.sim import indicators
from abm.sim.agents import Government, Household
from abm.sim.model import PensionModel
from abm.sim.policy import may_backpay
from helpers import small, with_policy, with_population


def _timeseries(scenario, seed=None) -> pd.DataFrame:
    return run(scenario, seed=seed).timeseries


def _households(model) -> list[Household]:
    return list(model.agents_by_type[Household]) if Household in model.agents_by_type else []


def test_same_seed_gives_identical_timeseries(small_scenario):
    """Two runs of the same scenario and seed agree in every indicator and year."""
    pd.testing.assert_frame_equal(_timeseries(small_scenario), _timeseries(small_scenario), check_exact=True)


def test_different_seed_gives_different_timeseries(small_scenario):
    """Another seed draws another population and other choices."""
    a, b = _timeseries(small_scenario, seed=1), _timeseries(small_scenario, seed=2)
    assert not a["participation_rate"].equals(b["participation_rate"])
    assert not a["fund_balance"].equals(b["fund_balance"])


def test_scenario_seed_is_the_default_seed(small_scenario):
    """Without a seed argument the run uses the scenario's seed."""
    pd.testing.assert_frame_equal(
        _timeseries(small_scenario), _timeseries(small_scenario, seed=small_scenario.run.seed), check_exact=True
    )


def test_model_takes_keyword_arguments_only(small_scenario):
    """PensionModel(scenario) without the keyword is a TypeError."""
    with pytest.raises(TypeError):
        PensionModel(small_scenario)


def test_data_collector_has_one_row_per_year_with_every_indicator(small_scenario):
    """One row per simulated year; columns are abm.sim.indicators.names(all grades), in order."""
    model = PensionModel(scenario=small_scenario)
    while model.running:
        model.step()
    df = model.datacollector.get_model_vars_dataframe()
    all_grades = sorted({g for grades in small_scenario.policy.grades.values() for g in grades})
    assert list(df.columns) == indicators.names(all_grades)
    assert list(df["year"]) == list(range(2011, 2017))
    assert "grade_share_2000" in df.columns and "grade_share_100" in df.columns
    assert not df.isna().any().any()


def test_grade_shares_of_self_payers_sum_to_one(small_scenario):
    """Every self-payer is at one of the grades offered: the grade shares add up to 1 each year."""
    df = _timeseries(small_scenario)
    np.testing.assert_allclose(df.filter(like="grade_share_").sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(df["lowest_grade_share"], df["grade_share_100"], rtol=0)


@pytest.fixture(scope="module")
def stepped_model(small_scenario):
    """A small model after two years."""
    model = PensionModel(scenario=small_scenario)
    model.step()
    model.step()
    return model


def test_household_reads_its_row_of_the_population(stepped_model):
    """household.age (and other attributes) equal the population column at the resident's row."""
    pop = stepped_model.population
    for household in _households(stepped_model)[::97]:
        row = pop.rows(household.resident_id)
        assert household.age == pop.age[row]
        assert household.income == pop.income[row]
        assert household.account == pop.account[row]
        assert household.pensioner == pop.pensioner[row]


def test_writing_through_a_household_changes_the_column(small_scenario):
    """household.income = x writes into population.income at that resident's row."""
    model = PensionModel(scenario=small_scenario)
    household = _households(model)[123]
    row = model.population.rows(household.resident_id)
    household.income = 12_345.0
    household.trust = 0.25
    assert model.population.income[row] == 12_345.0
    assert model.population.trust[row] == pytest.approx(0.25)
    assert np.count_nonzero(model.population.income == 12_345.0) == 1


def test_every_resident_has_exactly_one_household_agent(stepped_model):
    """Household agents and population rows match one to one, after deaths and new 16-year-olds."""
    ids = sorted(h.resident_id for h in _households(stepped_model))
    assert ids == stepped_model.population.id.tolist()
    assert sorted(stepped_model.households) == ids


def test_dead_and_departed_residents_lose_their_household_agent(small_scenario):
    """Residents who leave the population in a year are no longer agents of the model."""
    model = PensionModel(scenario=small_scenario)
    before = set(model.population.id.tolist())
    model.step()
    gone = before - set(model.population.id.tolist())
    assert gone, "some residents die or leave in a year"
    agent_ids = {h.resident_id for h in _households(model)}
    assert not gone & agent_ids
    assert not gone & set(model.households)
    assert len(_households(model)) == len(model.population)


def test_agents_none_creates_no_households_and_gives_the_same_numbers(small_scenario):
    """agents: none skips the Household agents; the simulation is unchanged for the same seed."""
    lean = with_population(small_scenario, agents="none")
    model = PensionModel(scenario=lean)
    assert _households(model) == [] and model.households == {}
    pd.testing.assert_frame_equal(_timeseries(lean), _timeseries(small_scenario), check_exact=True)


def test_a_run_makes_no_household_until_one_is_asked_for(small_scenario):
    """Households are made when asked for: years run with none, then model.households[id] makes that
    resident's agent only, the same object each time, a Mesa agent of the model."""
    model = PensionModel(scenario=small_scenario)
    model.step()
    model.step()
    assert model.households.made == 0
    assert Household not in model._agents_by_type  # Mesa's own registry: the Government only
    resident = int(model.population.id[len(model.population) // 2])
    household = model.households[resident]
    assert household is model.households[resident] and household.resident_id == resident
    assert model.households.made == 1 and household in model._agents_by_type[Household]
    row = model.population.rows(resident)
    assert household.age == model.population.age[row] and household.income == model.population.income[row]
    assert household.unique_id is not None and household.model is model
    assert len(model.households) == len(model.population) and resident in model.households


def test_an_asked_for_household_leaves_with_its_resident(small_scenario):
    """The agent of a resident who dies or moves away is removed from the model and the mapping; an id
    no longer present (or never present) is a KeyError."""
    model = PensionModel(scenario=small_scenario)
    households = [model.households[int(r)] for r in model.population.id]  # every resident, made one by one
    model.step()
    present = set(model.population.id.tolist())
    gone = [h for h in households if h.resident_id not in present]
    assert gone
    for household in gone:
        assert household not in model._agents_by_type[Household]
        assert household.resident_id not in model.households
        with pytest.raises(KeyError):
            model.households[household.resident_id]
        with pytest.raises(LookupError):
            _ = household.age
    assert model.households.made == len(households) - len(gone)
    with pytest.raises(KeyError):
        model.households[int(model.population.next_id) + 10]


def test_model_agents_show_the_government_and_every_resident_in_id_order(small_scenario):
    """model.agents makes the Households not made yet: the Government, then one per resident; arrivals
    of a later year are added when model.agents is asked for again."""
    model = PensionModel(scenario=small_scenario)
    agents = list(model.agents)
    assert isinstance(agents[0], Government) and len(agents) == 1 + len(model.population)
    assert [a.resident_id for a in agents[1:]] == model.population.id.tolist()
    model.step()
    assert [a.resident_id for a in model.agents_by_type[Household]] == model.population.id.tolist()
    assert model.agent_types == [Government, Household]
    assert len(model.agents) == 1 + len(model.population)


def test_mesa_agent_reporters_read_every_residents_row(small_scenario):
    """A DataCollector with agent reporters records each resident's columns, year after year."""
    model = PensionModel(scenario=small_scenario)
    collector = mesa.DataCollector(agenttype_reporters={Household: {"age": "age", "account": "account"}})
    for _ in range(2):
        model.step()
        collector.collect(model)
    table = collector.get_agenttype_vars_dataframe(Household)
    last = table.xs(model.time, level="Step")
    households = {h.unique_id: h.resident_id for h in model.agents_by_type[Household]}
    rows = model.population.rows(np.array([households[i] for i in last.index]))
    np.testing.assert_array_equal(last["age"].to_numpy(), model.population.age[rows])
    np.testing.assert_array_equal(last["account"].to_numpy(), model.population.account[rows])
    assert len(last) == len(model.population)
    everyone = mesa.DataCollector(agent_reporters={"kind": lambda a: type(a).__name__})
    everyone.collect(model)
    assert everyone.get_agent_vars_dataframe()["kind"].value_counts().to_dict() == {
        "Household": len(model.population),
        "Government": 1,
    }


def test_residents_60_plus_at_launch_get_the_basic_pension_only(small_scenario):
    """At launch the 60+ (not employees) are pensioners without an account; in 2011 every pension is
    the 2009 national minimum of 55 yuan/month (docs/domain.md section 1)."""
    model = PensionModel(scenario=small_scenario)
    pop = model.population
    launch = pop.pensioner.copy()
    np.testing.assert_array_equal(launch, (pop.age >= 60) & ~pop.employee)
    model.step()
    row = model.datacollector.get_model_vars_dataframe().iloc[0]
    assert row["year"] == 2011
    assert row["mean_basic_pension"] == 55.0
    assert row["mean_account_pension"] == 0.0
    assert row["account_pensions"] == 0.0
    survivors = model.population.pensioner & (model.population.age >= 61)
    assert survivors.any()
    assert not model.population.account_pension[survivors].any()


@pytest.fixture(scope="module")
def baseline_to_2025(baseline):
    """The baseline with 5,000 residents, 2011-2025."""
    return _timeseries(small(baseline, residents=5000, end_year=2025)).set_index("year")


def test_most_self_payers_choose_the_lowest_grade(baseline_to_2025):
    """Stylised fact (docs/domain.md section 3): in 2018-2023 over 60% of self-payers pay the lowest grade."""
    assert (baseline_to_2025.loc[2018:2023, "lowest_grade_share"] > 0.6).all()


def test_replacement_rate_is_low(baseline_to_2025):
    """Stylised fact (docs/domain.md section 4): the replacement rate lies between 5% and 25% in 2018-2023."""
    rates = baseline_to_2025.loc[2018:2023, "replacement_rate"]
    assert ((rates > 0.05) & (rates < 0.25)).all()


def test_replacement_rate_is_mean_pension_over_mean_income(baseline_to_2025):
    """replacement_rate = 12 x mean monthly pension / mean rural income, and the mean pension is basic + account."""
    ts = baseline_to_2025
    np.testing.assert_allclose(ts["mean_pension"], ts["mean_basic_pension"] + ts["mean_account_pension"], rtol=1e-12)
    np.testing.assert_allclose(ts["replacement_rate"], 12 * ts["mean_pension"] / ts["mean_income"], rtol=1e-12)
    assert ts.at[2023, "mean_income"] == 17677  # Shanxi rural income, docs/domain.md section 2


def _launch_cohort_run(scenario, choice: dict[str, float]):
    """2011-2014 with the choice coefficients ``choice`` replaced from 2012 (the launch cohort's first
    back-payments; the first year's payments as shipped): per year 2012-2014, the back-payers
    (indicator, persons), the residents at or past the pension age with the right who stayed short
    (simulated residents) and the back-payments (yuan)."""
    model = PensionModel(scenario=scenario.model_copy(update={"end_year": 2014}), rng=3)
    model.step()
    model.coefficients = model.coefficients.replace(choice)
    declined = []
    while model.running:
        model.step()
        pop, policy = model.population, model.policy
        age = pop.age - 1  # this year's age (the year has aged them)
        declined.append(
            int(
                (
                    ~pop.pensioner
                    & (age >= policy.pension_age)
                    & (pop.years < policy.min_years)
                    & may_backpay(age, pop.years, policy)
                ).sum()
            )
        )
    table = model.datacollector.get_model_vars_dataframe().iloc[1:]
    return table["backpayers"].to_numpy(), np.array(declined), table["backpayments"].to_numpy()


def test_nobody_backpays_when_paying_is_worth_nothing(small_scenario):
    """Benefit terms 0 and a very negative pay constant: those with the right stay short; no back-payments."""
    backpayers, declined, backpayments = _launch_cohort_run(
        small_scenario, {"pay": -100.0, "basic_value": 0.0, "account_value": 0.0}
    )
    assert np.all(backpayers == 0) and np.all(backpayments == 0)
    assert np.all(declined > 0) and np.all(np.diff(declined) > 0)  # waiting, more every year


def test_everybody_backpays_when_the_pension_dwarfs_the_cost(small_scenario):
    """A basic pension valued far above the lump sum: everyone with the right back-pays at once."""
    backpayers, declined, backpayments = _launch_cohort_run(small_scenario, {"basic_value": 100.0})
    assert np.all(backpayers > 0) and np.all(backpayments > 0)
    assert np.all(declined == 0)


# --- grade lists revised with income (policy.grade_revision) --------------------------------------


def _revising(scenario, end_year=2018, **rule):
    """``scenario`` to ``end_year`` with its grades revised every two years from 2015 (incomes relative to 2013)."""
    fields = {"every": 2, "first_year": 2015, "base_year": 2013} | rule
    return with_policy(scenario.model_copy(update={"end_year": end_year}), grade_revision=GradeRevision(**fields))


def test_grade_columns_cover_the_revised_lists_and_shares_sum_to_one(small_scenario):
    """The grade-share columns name every grade the run offers (the revised ones too); the self-payers'
    shares add up to 1 each year; the lowest and top shares are those of the year's own list."""
    model = PensionModel(scenario=_revising(small_scenario))
    lists = {}
    while model.running:
        lists[model.year] = model.government.step().grades.tolist()
        model.step()
    df = model.datacollector.get_model_vars_dataframe().set_index("year", drop=False)
    dated = {g for grades in small_scenario.policy.grades.values() for g in grades}
    new = {g for grades in lists.values() for g in grades} - dated
    assert new, lists  # a revision offered a grade no dated list has
    assert list(df.columns) == indicators.names(model.all_grades)
    assert all(indicators.grade_column(g) in df.columns for g in new)
    np.testing.assert_allclose(df.filter(like="grade_share_").sum(axis=1), 1.0, rtol=1e-12)
    for year, grades in lists.items():
        assert df.loc[year, "lowest_grade_share"] == df.loc[year, indicators.grade_column(grades[0])]
        assert df.loc[year, "top_grade_share"] == df.loc[year, indicators.grade_column(grades[-1])]


def test_a_revision_changes_nothing_before_its_first_year_and_nothing_when_off(small_scenario):
    """With the rule off (every 0) a run is the run without a rule, number for number; with it on,
    the years before the first revision are too, and the revision years differ."""
    without = _timeseries(with_policy(small_scenario.model_copy(update={"end_year": 2018}), grade_revision=None))
    off = _timeseries(_revising(small_scenario, every=0))
    pd.testing.assert_frame_equal(without, off, check_exact=True)
    on = _timeseries(_revising(small_scenario))
    before, after = on["year"] < 2015, on["year"] >= 2015
    pd.testing.assert_frame_equal(on.loc[before, list(without.columns)], without.loc[before], check_exact=True)
    assert not np.allclose(on.loc[after, "mean_contribution"], without.loc[after, "mean_contribution"])
