"""Explaining a choice: one resident's alternatives, utilities term by term, probabilities."""

from __future__ import annotations

import json

import numpy as np
import pytest

from abm.inputs.coefficients import TERMS
from abm.sim import diagnostics
from abm.sim.choice import probabilities
from abm.sim.demography import SEXES
from abm.sim.model import PensionModel
from abm.sim.policy import GROUP_CODES
from helpers import invoke, small


def explained(scenario, year: int, resident: int, seed: int = 7) -> dict:
    model = PensionModel(scenario=small(scenario, residents=1000, end_year=year), rng=seed)
    while model.year < year:
        model.step()
    return diagnostics.explain(model, resident)


def first_chooser(scenario, year: int, seed: int = 7) -> int:
    """The id of a resident who chooses a grade in ``year`` (run the same model to that year)."""
    model = PensionModel(scenario=small(scenario, residents=1000, end_year=year), rng=seed)
    while model.year <= year:
        model.step()
    pop = model.population
    return int(pop.id[np.flatnonzero((pop.choice >= 0) & ~pop.gov_paid)[0]])


def test_terms_add_up_to_the_utility_and_probabilities_are_the_logit(baseline):
    resident = first_chooser(baseline, 2014)
    result = explained(baseline, 2014, resident)
    alternatives = result["alternatives"]
    assert [a["grade"] for a in alternatives][:2] == [0, 100] and result["resident"]["id"] == resident
    utility = np.array([a["utility"] for a in alternatives])
    for alternative in alternatives:
        assert set(alternative["terms"]) == set(TERMS)
        assert sum(alternative["terms"].values()) == pytest.approx(alternative["utility"], abs=1e-12)
        assert sum(alternative["mechanisms"].values()) == pytest.approx(alternative["utility"], abs=1e-12)
    np.testing.assert_allclose([a["probability"] for a in alternatives], probabilities(utility[None, :])[0])
    assert sum(a["probability"] for a in alternatives) == pytest.approx(1.0)
    assert all(v == 0 for k, v in alternatives[0]["terms"].items() if k not in ("inertia", "peer_share"))


def test_explain_command_json_and_refusals(small_scenario_file):
    """The command runs the scenario as `run` does (its first replication's seed) to the year asked."""
    from abm.inputs.loader import load_scenario
    from abm.inputs.scenario import replication_seeds

    spec = load_scenario(small_scenario_file)
    model = PensionModel(
        scenario=spec.model_copy(update={"end_year": 2013}), rng=replication_seeds(spec.run.seed, 1)[0]
    )
    while model.running:
        model.step()
    pop = model.population
    resident = int(pop.id[np.flatnonzero((pop.choice >= 0) & ~pop.gov_paid)[0]])
    done = invoke("explain", small_scenario_file, "--year", 2013, "--resident", resident, "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["year"] == 2013 and data["resident"]["id"] == resident
    row = int(pop.rows(np.array([resident]))[0])  # the codes spelled out, as the population holds them
    who = data["resident"]
    assert who["sex"] == SEXES[pop.sex[row]] and who["group"] in GROUP_CODES
    assert GROUP_CODES[who["group"]] == pop.group[row]
    grades = {grade for offered in spec.policy.grades.values() for grade in offered}
    assert who["last_choice"] is None or who["last_choice"] in {0, *grades}
    assert {"income", "last_choice", "grade", "utility", "group"} <= set(data["units"])
    assert {"grade", "probability", "utility", "terms", "mechanisms"} <= set(data["alternatives"][0])
    assert sum(a["probability"] for a in data["alternatives"]) == pytest.approx(1.0)
    text = invoke("explain", small_scenario_file, "--year", 2013, "--resident", resident)
    assert text.exit_code == 0 and f"resident {resident}" in text.output and "mechanism" in text.output
    assert f"{who['sex']}, age {who['age']}" in " ".join(text.output.split()) and "last year" in text.output
    assert "…" not in text.output
    late = invoke("explain", small_scenario_file, "--year", 2030, "--resident", 1)
    assert late.exit_code == 2 and "--year" in late.output
    nobody = invoke("explain", small_scenario_file, "--year", 2013, "--resident", 10**9)
    assert nobody.exit_code == 2 and "--resident" in nobody.output
