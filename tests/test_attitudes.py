"""Attitudes: financial education and publicity teach compound interest; levers reach behaviour
through the benefit terms of the choice model."""

from __future__ import annotations

import numpy as np

from abm.sim import attitudes
from abm.sim.model import PensionModel
from helpers import make_population, small, with_policy, year_policy


def test_financial_education_reaching_everyone_makes_16_to_59_year_olds_literate(baseline):
    scenario = with_policy(baseline, financial_education={2011: 0.0, 2020: 1.0})
    pop = make_population(4, age=[20, 45, 59, 65])
    dynamics = {
        "awareness_publicity": 0.0,
        "awareness_peers": 0.0,
        "awareness_pensioners": 0.0,
        "awareness_decay": 0.0,
        "trust_service": 0.0,
        "trust_pensioners": 0.0,
        "trust_decay": 0.0,
        "literacy_publicity": 0.0,
    }
    rng = np.random.default_rng(1)
    attitudes.update(pop, year_policy(scenario, 2019), dynamics, 1, rng)
    assert not pop.literate.any()  # no education yet, no publicity effect
    attitudes.update(pop, year_policy(scenario, 2020), dynamics, 1, rng)
    np.testing.assert_array_equal(pop.literate, [True, True, True, False])


def test_with_a_weight_on_the_basic_pension_a_top_up_raises_participation(baseline):
    """The lever reaches behaviour through the benefit term: +100 yuan/month of top-up from 2013,
    same seed, participation 2013-2016 rises."""

    def participation(top_up: float) -> float:
        scenario = small(with_policy(baseline, local_top_up={2011: 0.0, 2013: top_up}), residents=4000)
        scenario = scenario.model_copy(
            update={"behaviour": scenario.behaviour.model_copy(update={"choice": {"basic_value": 1.0}})}
        )
        model = PensionModel(scenario=scenario, rng=11)
        while model.running:
            model.step()
        table = model.datacollector.get_model_vars_dataframe().set_index("year")
        return float(table.loc[2013:2016, "participation_rate"].mean())

    assert participation(100.0) > participation(0.0) + 0.005  # measured: +0.9 points
