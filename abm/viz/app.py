"""The SolaraViz page. `pension-abm viz` serves it; every browser tab builds its own model."""

from __future__ import annotations

import os

import solara
from mesa.visualization import SolaraViz

from abm.model import DEFAULT_SCENARIO
from abm.scenario import load_scenario
from abm.viz.levers import (
    MINIMUM_GRADES,
    PROJECT,
    RESIDENTS_SHOWN,
    SCENARIO_VARIABLE,
    SUBSIDY_SCHEDULES,
    CountyModel,
    scenario_choices,
    scenario_levers,
    scenario_path,
)
from abm.viz.panels import COMPONENTS


def scenario_file() -> str:
    return os.environ.get(SCENARIO_VARIABLE, str(DEFAULT_SCENARIO.relative_to(PROJECT)))


def controls(selected: str) -> dict:
    """SolaraViz model_params: one control per lever, starting at the selected scenario's values."""
    spec = load_scenario(scenario_path(selected))
    own = scenario_levers(spec)
    residents = max(1_000, round(min(own.residents, RESIDENTS_SHOWN), -3))   # on the slider's steps

    def slider(kind, label, value, low, high, step):
        return {"type": kind, "label": label, "value": value, "min": low, "max": high, "step": step}

    params = {
        "scenario_file": {"type": "Select", "label": "Scenario", "value": selected,
                          "values": scenario_choices(selected)},
        "reform_year": slider("SliderInt", "Levers apply from (year)", own.reform_year, spec.start_year + 1,
                              spec.end_year, 1),
        "publicity": slider("SliderFloat", "Publicity (0-1)", own.publicity, 0.0, 1.0, 0.05),
        "service_quality": slider("SliderFloat", "Service quality (0-1)", own.service_quality, 0.0, 1.0, 0.05),
        "subsidy_schedule": {"type": "Select", "label": "Subsidy schedule", "value": own.subsidy_schedule,
                             "values": list(SUBSIDY_SCHEDULES)},
        "subsidy_level": slider("SliderInt", "Subsidy on the lowest grade (yuan/year)", own.subsidy_level, 0, 200, 5),
        "minimum_grade": {"type": "Select", "label": "Minimum grade (yuan/year)", "value": own.minimum_grade,
                          "values": sorted({own.minimum_grade, *MINIMUM_GRADES})},
        "basic_pension": slider("SliderInt", "Basic pension (yuan/month)", own.basic_pension, 50, 600, 1),
        "basic_pension_growth": slider("SliderFloat", "Basic pension extra growth (per year)",
                                       own.basic_pension_growth, 0.0, 0.08, 0.005),
        "interest_rate": slider("SliderFloat", "Account interest rate (per year)", own.interest_rate, 0.0, 0.08,
                                0.0025),
        "pension_age": slider("SliderInt", "Pension age (years)", own.pension_age, 55, 70, 1),
        "financial_education": slider("SliderFloat", "Financial education (0-1)",
                                      own.financial_education, 0.0, 1.0, 0.05),
        "residents": slider("SliderInt", "Residents shown", residents, 1_000, 50_000, 1_000),
        "seed": slider("SliderInt", "Seed (0: the scenario's)", 0, 0, 1000, 1),
    }
    # where the controls start: a lever left there keeps the scenario's own value (CountyModel)
    return params | {"untouched": {name: control["value"] for name, control in params.items()}}


def build(params: dict) -> CountyModel:
    """The model the controls describe (fixed parameters, without a "type", pass as they are)."""
    return CountyModel(**{name: spec["value"] if isinstance(spec, dict) and "type" in spec else spec
                          for name, spec in params.items()})


@solara.component
def Page():
    selected = scenario_file()
    params = solara.use_memo(lambda: controls(selected), [selected])
    model = solara.use_memo(lambda: build(params), [])   # per session: tabs never share a model
    return SolaraViz(model, components=list(COMPONENTS), model_params=params, play_interval=150,
                     name="pension-abm: a county's residents' pension")
