"""The SolaraViz page. `pension-abm viz` serves it; every browser tab builds its own model."""

from __future__ import annotations

import os

import solara
from mesa.visualization import SolaraViz, solara_viz

from abm.inputs.loader import load_scenario
from abm.sim.model import DEFAULT_SCENARIO
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
    residents = max(1_000, round(min(own.residents, RESIDENTS_SHOWN), -3))  # on the slider's steps

    def slider(kind, label, value, low, high, step):
        return {"type": kind, "label": label, "value": value, "min": low, "max": high, "step": step}

    params = {
        "scenario_file": {
            "type": "Select",
            "label": "Scenario",
            "value": selected,
            "values": scenario_choices(selected),
        },
        "reform_year": slider(
            "SliderInt", "Levers apply from (year)", own.reform_year, spec.start_year + 1, spec.end_year, 1
        ),
        "publicity": slider("SliderFloat", "Publicity (0-1)", own.publicity, 0.0, 1.0, 0.05),
        "service_quality": slider("SliderFloat", "Service quality (0-1)", own.service_quality, 0.0, 1.0, 0.05),
        "subsidy_schedule": {
            "type": "Select",
            "label": "Subsidy schedule",
            "value": own.subsidy_schedule,
            "values": list(SUBSIDY_SCHEDULES),
        },
        "subsidy_level": slider("SliderInt", "Subsidy on the lowest grade (yuan/year)", own.subsidy_level, 0, 200, 5),
        "minimum_grade": {
            "type": "Select",
            "label": "Minimum grade (yuan/year)",
            "value": own.minimum_grade,
            "values": sorted({own.minimum_grade, *MINIMUM_GRADES}),
        },
        "basic_pension": slider("SliderInt", "Basic pension (yuan/month)", own.basic_pension, 50, 600, 1),
        "basic_pension_growth": slider(
            "SliderFloat", "Basic pension extra growth (per year)", own.basic_pension_growth, 0.0, 0.08, 0.005
        ),
        "interest_rate": slider(
            "SliderFloat", "Account interest rate (per year)", own.interest_rate, 0.0, 0.08, 0.0025
        ),
        "pension_age": slider("SliderInt", "Pension age (years)", own.pension_age, 55, 70, 1),
        "financial_education": slider(
            "SliderFloat", "Financial education (0-1)", own.financial_education, 0.0, 1.0, 0.05
        ),
        "residents": slider("SliderInt", "Residents shown", residents, 1_000, 50_000, 1_000),
        "seed": slider("SliderInt", "Seed (0: the scenario's)", 0, 0, 1000, 1),
    }
    # where the controls start: a lever left there keeps the scenario's own value (CountyModel)
    return params | {"untouched": {name: control["value"] for name, control in params.items()}}


def build(params: dict) -> CountyModel:
    """The model the controls describe (fixed parameters, without a "type", pass as they are)."""
    return CountyModel(
        **{name: spec["value"] if isinstance(spec, dict) and "type" in spec else spec for name, spec in params.items()}
    )


TAB = "County, choices and charts"  # the name of the page's one tab


@solara.component
def ValueSlider(label: str, value: float, on_value, low: float, high: float, step: float, whole: bool):
    """A slider with its current value written after it (a whole number, or a float as short as it goes)."""
    current = solara.use_reactive(value, on_value)
    slider = solara.SliderInt if whole else solara.SliderFloat
    with solara.Row(gap="6px", style="align-items: center") as row:
        with solara.Div(style="flex: 1 1 auto"):
            slider(label, value=current, min=low, max=high, step=step)
        solara.Text(
            str(current.value) if whole else f"{current.value:g}",
            classes=["slider-value"],
            style="min-width: 3.6em; text-align: right",
        )
    return row


@solara.component
def UserInputs(user_params: dict, on_change=None):
    """The controls of ``user_params`` as Mesa's SolaraViz draws them, each slider showing its value
    (Mesa 3.5's sliders show it only while one is dragged)."""
    for name, options in user_params.items():

        def changed(value, name=name):
            on_change(name, value)

        kind, label = options.get("type"), options.get("label", name)
        if kind in ("SliderInt", "SliderFloat"):
            ValueSlider(
                label,
                options["value"],
                changed,
                options["min"],
                options["max"],
                options["step"],
                whole=kind == "SliderInt",
            )
        elif kind == "Select":
            solara.Select(label, value=options["value"], on_value=changed, values=options["values"])
        else:
            raise ValueError(f"{kind} is not a control of the page")


solara_viz.UserInputs = UserInputs  # SolaraViz's ModelCreator draws the controls through this name


@solara.component
def Panels(model):
    """The panels under one tab with a name (SolaraViz names its tabs "Page 0", "Page 1", ...), in
    SolaraViz's draggable grid."""
    layout, set_layout = solara.use_state(solara_viz.make_initial_grid_layout(len(COMPONENTS)))
    with solara.Column(gap="0px") as main:
        with solara.v.Tabs():
            solara.v.Tab(children=[TAB])
        solara.GridDraggable(
            items=[component(model) for component in COMPONENTS],
            grid_layout=layout,
            resizable=True,
            draggable=True,
            on_grid_layout=set_layout,
        )
    return main


@solara.component
def Page():
    selected = scenario_file()
    params = solara.use_memo(lambda: controls(selected), [selected])
    # per session (tabs never share a model); Reset puts its new model here
    model = solara.use_reactive(solara.use_memo(lambda: build(params), []))
    SolaraViz(
        model, components=[], model_params=params, play_interval=150, name="pension-abm: a county's residents' pension"
    )
    Panels(model.value)
