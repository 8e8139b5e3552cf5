"""Money's worth by cohort: residents' lifetime present values against pension-abm irr, and the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abm.analysis import cohorts
from abm.analysis.irr import LAST_AGE, money_worth
from abm.inputs.county import load_county
from abm.sim import lifetime, population
from abm.sim.demography import SEXES, LifeTable
from abm.sim.economy import Economy
from abm.sim.fund import Fund
from abm.sim.policy import basic_pension_path, policy_for_year
from helpers import make_population, small

GRADE, ENTRY_AGE, START = 500, 45, 2025


def expected_net_value(scenario, rates: np.ndarray) -> np.ndarray:
    """The resident of `pension-abm irr` (grade GRADE for 15 years from ENTRY_AGE in START, female)
    driven through the simulation's Fund: row d dies in year d; the life table weights the rows, so
    the result is the expected net value at each rate, as irr.py's survival-weighted flows."""
    county = load_county(scenario)
    life = LifeTable.for_county(county)
    horizon = range(START, START + LAST_AGE - ENTRY_AGE + 1)
    economy = Economy(county.rural_income, scenario.economy, START - 1, horizon[-1])
    basic = basic_pension_path(scenario.policy, economy, horizon)
    policies = [policy_for_year(scenario.policy, year, basic[year], economy) for year in horizon]
    n = len(policies)
    pop = make_population(n, age=ENTRY_AGE, sex=SEXES.index("female"))
    fund = Fund(weight=1.0)
    at_death = np.zeros((n + 1, rates.size))
    rows = np.arange(n)
    for t, policy in enumerate(policies):
        fund.open_year(policy.year)
        paying = t < 15
        fund.collect(pop, rows, np.full(n, GRADE if paying else 0.0), np.zeros(n, bool), policy)
        fund.retire(pop, policy)
        fund.pay(pop, policy)
        dead = rows == t
        fund.bequeath(pop, dead, policy)
        at_death[t] = pop.npv[t]
        lifetime.settle(pop, fund.discount)  # the year's flows valued, as Fund.close_year does
        pop.account[dead] = 0.0
        pop.account_pension[dead] = 0.0
        pop.age += 1
    qx = life.qx[SEXES.index("female")][ENTRY_AGE : ENTRY_AGE + n]
    alive = np.concatenate([[1.0], np.cumprod(1 - qx)[:-1]])
    weights = np.append(alive * qx, alive[-1] * (1 - qx[-1]))  # dying in each year; surviving the horizon
    at_death[n] = pop.npv[n - 1] if weights[-1] else 0.0
    return weights @ at_death


def test_cohort_money_worth_equals_pension_abm_irr_for_one_resident(baseline, monkeypatch):
    target = money_worth(baseline, GRADE, ENTRY_AGE, years=15, start_year=START, sex="female").irr
    assert 0.0 < target < 0.5
    rates = np.array([target - 1e-4, target + 1e-4])
    monkeypatch.setattr(lifetime, "RATES", rates)
    monkeypatch.setattr(population, "WIDTHS", {**population.WIDTHS, "npv": rates.size})
    value = expected_net_value(baseline, rates)
    assert value[0] > 0 > value[1]  # the accumulated net value changes sign within 0.01 pp of irr.py's rate


def test_irr_from_the_default_grid_is_close_to_pension_abm_irr(baseline):
    target = money_worth(baseline, GRADE, ENTRY_AGE, years=15, start_year=START, sex="female").irr
    found = lifetime.irr_from_grid(expected_net_value(baseline, lifetime.RATES))[0]
    assert found == pytest.approx(target, abs=0.005)


def test_present_values_of_the_account_balance_out(baseline):
    """Discounting at the account's own rate: what left the accounts of the dead is worth what went in."""
    value_in = value_out = 0.0
    from abm.sim.model import PensionModel

    model = PensionModel(scenario=small(baseline, residents=800, end_year=2030), rng=3, lifetime=True)
    while model.running:
        model.step()
    died = [e for e in model.fund.exits if (e["how"] == "died").all()]
    for exit_ in died:
        value_in += float((exit_["pv_own"] + exit_["pv_subsidy"]).sum())
        value_out += float((exit_["pv_account"] + exit_["pv_estate"]).sum())
    assert value_in > 0
    # returned subsidies (before 2014) leave the account without reaching the resident
    assert value_out == pytest.approx(value_in, rel=0.02)
    table = cohorts.model_table(model)
    assert set(table["grade"]) <= {cohorts.ALL, *cohorts.GRADES}
    assert ((table["valued_share"] >= 0) & (table["valued_share"] <= 1)).all()
    launch_old = table[(table["cohort"] == "1940-1944") & (table["grade"] == cohorts.ALL)].iloc[0]
    assert launch_old["own"] == 0 and launch_old["basic"] > 0  # 60+ at launch: the basic pension without paying


def test_lifetime_accounts_are_kept_only_when_asked_for_and_change_no_indicator(baseline):
    """PensionModel(lifetime=True) keeps the lifetime columns and exit records the cohort table reads; without
    it there are none (cohorts.records refuses the model), and every indicator of every year is the same."""
    from abm.sim.model import PensionModel

    scenario = small(baseline, residents=1000, end_year=2016)
    models = {}
    for keep in (False, True):
        model = models[keep] = PensionModel(scenario=scenario, rng=5, lifetime=keep)
        while model.running:
            model.step()
    lean, full = models[False], models[True]
    assert not lean.population.lifetime and not hasattr(lean.population, "npv") and lean.fund.exits == []
    assert full.population.lifetime and full.population.npv.shape == (len(full.population), lifetime.RATES.size)
    assert full.fund.exits and len(cohorts.records(full)) > 0
    with pytest.raises(ValueError, match="lifetime=True"):
        cohorts.records(lean)
    frames = [m.datacollector.get_model_vars_dataframe() for m in (lean, full)]
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    assert lean.population.nbytes < full.population.nbytes
