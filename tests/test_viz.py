"""The SolaraViz page without a browser: rendered with solara.render, driven through its widgets.

Every page model is recorded (CountyModel.__init__ wrapped, signature kept) so that a test can
look at the model a click built. Populations stay small (1,000-5,000 residents) to keep this fast.
"""

from __future__ import annotations

import base64
import functools
import inspect
import io
import re
import time
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pytest
import solara
import solara.widgets
from mesa.visualization.utils import force_update
from PIL import Image

from abm.infra.errors import UserError
from abm.inputs.loader import load_scenario
from abm.sim import diagnostics
from abm.sim.agents import STATUSES
from abm.viz import app, panels, server
from abm.viz.levers import (
    REFORM_YEAR,
    RESIDENTS_SHOWN,
    SCENARIOS,
    CountyModel,
    Levers,
    overrides,
    scenario_levers,
    subsidy_rules,
)
from helpers import BASELINE, PNG_MAGIC, REPO_ROOT, invoke, squash, when, with_population, year_policy

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


# --- driving a page -------------------------------------------------------------------------------


@pytest.fixture
def built(monkeypatch) -> list[CountyModel]:
    """Every CountyModel built while the test runs, in order (the page's and Reset's)."""
    models: list[CountyModel] = []
    original = CountyModel.__init__

    @functools.wraps(original)  # keeps the signature SolaraViz inspects
    def init(self, **kwargs):
        original(self, **kwargs)
        models.append(self)

    monkeypatch.setattr(CountyModel, "__init__", init)
    return models


@pytest.fixture
def open_page(built, monkeypatch):
    """Opens sessions of the page as the server does (inside solara's AppLayout); closes them at the end."""
    monkeypatch.delenv(app.SCENARIO_VARIABLE, raising=False)
    pages: list[PageSession] = []

    def opener() -> PageSession:
        pages.append(PageSession(built))
        return pages[-1]

    yield opener
    for page in pages:
        if page.failed:  # closing re-raises the error the page stopped on
            with pytest.raises(Exception):  # noqa: B017
                page.rc.close()
        else:
            page.rc.close()


@solara.component
def Session():
    with solara.AppLayout():
        app.Page()


class PageSession:
    """One rendered page and the model it currently shows."""

    def __init__(self, built: list[CountyModel]):
        self.built = built
        self.failed = False
        before = len(built)
        _, self.rc = solara.render(Session(), handle_error=False)
        assert len(built) == before + 1, "the page should build exactly one model"
        self.model = built[-1]

    def button(self, label: str) -> v.Btn:
        return self.rc.find(v.Btn, children=[label]).widget

    def click(self, label: str) -> None:
        before = len(self.built)
        self.button(label).click()
        if len(self.built) > before:  # Reset built a new model
            self.model = self.built[-1]

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.click("Step")

    def set(self, label: str, value) -> None:
        """Moves the control labelled ``label`` to ``value`` as a user would."""
        found = [w for cls in (v.Slider, v.Select, v.TextField) for w in self.rc.find(cls, label=label).widgets]
        assert len(found) == 1, f"no single control labelled {label!r}: {found}"
        widget = found[0]
        widget.v_model = value
        if isinstance(widget, v.TextField):  # a text field commits on Enter (or leaving it)
            widget.fire_event("keyup.enter")

    def control(self, label: str):
        return next(w for cls in (v.Slider, v.Select, v.TextField) for w in self.rc.find(cls, label=label).widgets)

    def texts(self) -> list[str]:
        return [str(c) for w in self.rc.find(v.Html, tag="span").widgets for c in w.children if isinstance(c, str)]

    def text(self, prefix: str) -> str:
        found = [t for t in self.texts() if t.startswith(prefix)]
        assert len(found) == 1, (prefix, self.texts())
        return found[0]

    def time_shown(self) -> float:
        """Mesa's ShowSteps: "Time: N" (Mesa 3.5 prints model.time, a float: "Time: 1.0")."""
        match = re.fullmatch(r"Time: (\d+(?:\.\d+)?)", self.text("Time:"))
        assert match, self.text("Time:")
        return float(match.group(1))

    def map_year(self) -> int:
        return int(re.match(r"The county in (\d{4})", self.text("The county in")).group(1))


def without_residents(spec):
    """The scenario with population.residents blanked, to compare everything else."""
    return with_population(spec, residents=0)


@pytest.fixture(scope="module")
def baseline_spec():
    return load_scenario(BASELINE)


# --- the page: a fresh session, Step, Reset, Play -----------------------------------------------------


def test_a_fresh_page_shows_the_scenario_at_its_start(open_page, baseline_spec):
    """Time 0, the map of 2011, and a model that is the scenario exactly (but for the residents shown)."""
    page = open_page()
    model = page.model
    assert page.time_shown() == 0
    assert model.year == baseline_spec.start_year == page.map_year() == 2011
    assert model.indicators == {}
    assert model.spec == with_population(baseline_spec, residents=RESIDENTS_SHOWN)
    assert model.levers == Levers(**{**scenario_levers(baseline_spec).__dict__, "residents": RESIDENTS_SHOWN})
    assert len(model.population) == RESIDENTS_SHOWN
    assert [w.children for w in page.rc.find(v.Btn).widgets] == [["Reset"], ["▶"], ["Step"]]


def test_step_advances_the_year_and_the_time_shown(open_page):
    page = open_page()
    model = page.model
    page.step()
    assert page.model is model
    assert model.year == 2012 and model.indicators["year"] == 2011
    assert page.time_shown() == 1
    assert page.map_year() == 2011  # the map shows the last simulated year
    page.step(2)
    assert model.year == 2014 and page.time_shown() == 3 and page.map_year() == 2013
    assert list(model.datacollector.get_model_vars_dataframe().year) == [2011, 2012, 2013]


def test_reset_builds_a_fresh_model_from_the_controls(open_page):
    page = open_page()
    first = page.model
    page.step(2)
    page.click("Reset")
    assert page.model is not first
    assert page.model.year == 2011 and page.model.indicators == {}
    assert page.time_shown() == 0 and page.map_year() == 2011
    assert page.model.spec == first.spec and page.model.levers == first.levers
    assert first.year == 2013  # the old model is left alone
    page.step()
    assert page.model.year == 2012 and page.time_shown() == 1


@pytest.mark.slow
def test_play_runs_years_until_paused(open_page):
    page = open_page()
    page.set("Residents shown", 1000)
    page.click("Reset")
    model = page.model
    page.click("▶")
    assert page.button("❚❚").disabled is False
    assert page.button("Step").disabled is True  # no stepping while playing
    deadline = time.monotonic() + 20
    while model.year < 2015 and time.monotonic() < deadline:
        time.sleep(0.05)
    page.click("❚❚")
    assert model.year >= 2015, "Play should run several years"
    time.sleep(0.5)  # a step in flight may still finish
    stopped = model.year
    time.sleep(0.5)
    assert model.year == stopped, "the model should stop after pause"
    assert page.button("▶").disabled is False and page.button("Step").disabled is False
    assert page.time_shown() == stopped - 2011


# --- the controls --------------------------------------------------------------------------------------


def test_controls_start_at_the_scenarios_own_values(baseline_spec):
    params = app.controls("scenarios/baseline.yaml")
    own = scenario_levers(baseline_spec)
    keywords = set(inspect.signature(CountyModel.__init__).parameters) - {"self"}
    assert set(params) == keywords  # one control per keyword (and where they start)
    controls = {name: control for name, control in params.items() if name != "untouched"}
    for name, control in controls.items():
        assert control["label"]
        if "min" in control:
            assert control["min"] <= control["value"] <= control["max"], name
        if control["type"] == "Select":
            assert control["value"] in control["values"], name
    for name, value in own.__dict__.items():
        assert params[name]["value"] == (min(value, RESIDENTS_SHOWN) if name == "residents" else value), name
    assert params["seed"]["value"] == 0
    assert params["untouched"] == {name: control["value"] for name, control in controls.items()}
    assert "scenarios/baseline.yaml" in params["scenario_file"]["values"]
    assert [f"scenarios/{p.name}" for p in SHIPPED] == params["scenario_file"]["values"]


@pytest.mark.parametrize("scenario", SHIPPED, ids=lambda p: p.stem)
def test_every_slider_starts_on_its_step_grid(scenario):
    """The browser's slider snaps a value off its grid (min + k * step) and sends the snapped value back,
    which would move that lever on the next Reset: every scenario's own values must sit on the grid."""
    for name, control in app.controls(str(scenario.relative_to(REPO_ROOT))).items():
        if "step" in control:
            steps = (control["value"] - control["min"]) / control["step"]
            assert abs(steps - round(steps)) < 1e-9, (name, control)


MOVES = {  # control label, value, the model's lever, and the scenario field it must change
    "publicity": ("Publicity (0-1)", 0.8, "publicity"),
    "service": ("Service quality (0-1)", 0.25, "service_quality"),
    "pension age": ("Pension age (years)", 65, "pension_age"),
    "minimum grade": ("Minimum grade (yuan/year)", 200, "minimum_grade"),
    "basic pension": ("Basic pension (yuan/month)", 200, "basic_pension"),
    "interest": ("Account interest rate (per year)", 0.03, "interest_rate"),
    "subsidy level": ("Subsidy on the lowest grade (yuan/year)", 60, "subsidy_level"),
    "schedule": ("Subsidy schedule", "flat", "subsidy_schedule"),
    "growth": ("Basic pension extra growth (per year)", 0.02, "basic_pension_growth"),
    "financial education": ("Financial education (0-1)", 0.5, "financial_education"),
}


def expected_policy(spec, lever: str, value):
    """The scenario's policy with one lever moved from the reform year on (restated here)."""
    policy, year = spec.policy, REFORM_YEAR

    def from_reform(dated):
        return {**{y: x for y, x in dated.items() if when(y) < (year, 1)}, year: value}

    if lever in (
        "publicity",
        "service_quality",
        "pension_age",
        "interest_rate",
        "basic_pension",
        "financial_education",
    ):
        return policy.model_copy(update={lever: from_reform(getattr(policy, lever))})
    if lever == "minimum_grade":
        current = policy.grades[max(y for y in policy.grades if y <= year)]
        return policy.model_copy(update={"grades": {**policy.grades, year: [g for g in current if g >= value]}})
    if lever == "subsidy_level":  # the scenario's schedule rescaled: 30 -> 60 doubles every rule
        return policy.model_copy(update={"subsidy": {**policy.subsidy, year: [(100, 60.0), (500, 120.0)]}})
    if lever == "subsidy_schedule":  # flat at the scenario's lowest-grade amount
        return policy.model_copy(update={"subsidy": {**policy.subsidy, year: [(1, 30.0)]}})
    if lever == "basic_pension_growth":
        indexation = policy.basic_pension_indexation.model_copy(update={"rate": value})
        return policy.model_copy(update={"basic_pension_indexation": indexation})
    raise AssertionError(lever)


@pytest.mark.parametrize("move", MOVES)
def test_a_control_moved_then_reset_changes_that_lever_only(open_page, baseline_spec, move):
    label, value, lever = MOVES[move]
    page = open_page()
    page.set("Residents shown", 1000)
    page.set(label, value)
    page.click("Reset")
    model = page.model
    assert getattr(model.levers, lever) == value
    assert model.levers.residents == 1000 and len(model.population) == 1000
    own = scenario_levers(baseline_spec)
    assert {k: x for k, x in model.levers.__dict__.items() if k not in (lever, "residents")} == {
        k: x for k, x in own.__dict__.items() if k not in (lever, "residents")
    }
    assert model.spec.policy == expected_policy(baseline_spec, lever, value)
    assert without_residents(model.spec).model_copy(update={"policy": baseline_spec.policy}) == without_residents(
        baseline_spec
    )
    assert page.model.year == 2011 and page.time_shown() == 0
    assert page.text("From 2026:") == panels.levers_in_force(model.levers)


def test_several_controls_moved_together(open_page, baseline_spec):
    page = open_page()
    for label, value in [
        ("Residents shown", 1000),
        ("Publicity (0-1)", 0.8),
        ("Pension age (years)", 65),
        ("Minimum grade (yuan/year)", 200),
        ("Seed (0: the scenario's)", 7),
    ]:
        page.set(label, value)
    page.click("Reset")
    spec = page.model.spec
    assert spec.policy.publicity == {2011: 0.5, 2026: 0.8}
    assert spec.policy.pension_age == {2011: 60, 2026: 65}
    assert spec.policy.grades[2026] == [200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000]
    assert spec.policy.grades[2014] == baseline_spec.policy.grades[2014]
    assert spec.run.seed == 7 and spec.population.residents == 1000
    assert page.model.levers.publicity == 0.8 and page.model.levers.pension_age == 65
    assert page.model.levers.minimum_grade == 200
    page.step()  # and it runs
    assert page.model.year == 2012


def test_moving_only_the_reform_year_changes_nothing(baseline_spec):
    """The Reform year slider alone (other controls untouched) must leave the scenario as it is."""
    params = app.controls("scenarios/baseline.yaml")
    model = app.build(params | {"reform_year": 2030, "residents": 1000})
    assert without_residents(model.spec) == without_residents(baseline_spec), (
        f"basic pension became {model.spec.policy.basic_pension}"
    )


def test_choosing_another_scenario_runs_it_as_it_is(open_page):
    """Scenario select + Reset, other controls untouched: the chosen scenario's own policy."""
    page = open_page()
    page.set("Residents shown", 1000)
    page.set("Scenario", "scenarios/publicity_service.yaml")
    page.click("Reset")
    chosen = load_scenario(SCENARIOS / "publicity_service.yaml")
    assert page.model.spec.name == chosen.name
    assert without_residents(page.model.spec) == without_residents(chosen), (
        f"publicity {page.model.spec.policy.publicity} instead of {chosen.policy.publicity}"
    )


@pytest.mark.parametrize("scenario", SHIPPED, ids=lambda p: p.stem)
def test_untouched_levers_leave_each_scenario_as_it_is(scenario):
    """A CountyModel with no lever moved runs the scenario file exactly (residents apart)."""
    spec = load_scenario(scenario)
    assert overrides(spec, scenario_levers(spec)) == []
    model = CountyModel(scenario_file=str(scenario.relative_to(REPO_ROOT)), residents=1000)
    assert model.spec == with_population(spec, residents=1000)
    assert model.year == spec.start_year and model.indicators == {}


def test_levers_from_a_revision_year_start_from_the_grades_and_subsidies_then_in_force(baseline_spec):
    """The baseline revises its grades with income every five years from 2030: levers from 2035 show
    the revised lowest grade and its subsidy, and a minimum grade moved then keeps the revised grades
    above it."""
    grades, rules = year_policy(baseline_spec, 2035).grades.tolist(), year_policy(baseline_spec, 2035).subsidies
    assert grades[0] > 100  # the revision has raised the lowest grade
    own = scenario_levers(baseline_spec, 2035)
    assert (own.minimum_grade, own.subsidy_level) == (grades[0], int(rules[0]))
    assert overrides(baseline_spec, own) == []
    moved = overrides(baseline_spec, Levers(**{**own.__dict__, "minimum_grade": 100}))
    assert moved == [("policy.grades", {**baseline_spec.policy.grades, 2035: [100, *grades]})]


def test_a_fresh_county_model_is_the_baseline_exactly(baseline_spec):
    assert CountyModel().spec == baseline_spec


def test_the_environment_variable_selects_the_scenario(open_page, monkeypatch, small_scenario_file):
    """PENSION_ABM_VIZ_SCENARIO (set by `pension-abm viz FILE`) picks the page's scenario, here one
    ending before the default reform year; at its end year the model stops and Step and Play are disabled."""
    page_opener = open_page
    monkeypatch.setenv(app.SCENARIO_VARIABLE, str(small_scenario_file))
    page = page_opener()
    assert page.model.spec == load_scenario(small_scenario_file)
    assert page.control("Scenario").v_model == str(small_scenario_file)
    assert page.control("Residents shown").v_model == 2000
    assert page.control("Levers apply from (year)").v_model == 2014  # 2026 is past its end: its last year
    page.step(4)  # 2011-2014
    assert page.model.year == 2015 and not page.model.running
    assert page.button("Step").disabled and page.button("▶").disabled
    page.click("Reset")
    assert page.model.year == 2011 and page.model.spec == load_scenario(small_scenario_file)
    assert not page.button("Step").disabled


# --- seeds -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["abc", "-1", "1.5", " "])
def test_a_bad_seed_is_a_user_error(seed):
    with pytest.raises(UserError, match="seed") as caught:
        CountyModel(seed=seed, residents=1000)
    assert caught.value.field == "seed"


def test_a_seed_sets_the_run_seed_and_empty_keeps_the_scenarios(baseline_spec):
    assert CountyModel(seed="", residents=1000).spec.run.seed == baseline_spec.run.seed
    seeded = CountyModel(seed="7", residents=1000)
    again = CountyModel(seed="7", residents=1000)
    assert seeded.spec.run.seed == 7
    assert np.array_equal(seeded.population.age, again.population.age)


def test_the_seed_slider_sets_the_run_seed_and_zero_keeps_the_scenarios(open_page, baseline_spec):
    """The page's seed is a slider (no value can be malformed); 0 runs the scenario's own seed."""
    page = open_page()
    page.set("Residents shown", 1000)
    page.set("Seed (0: the scenario's)", 7)
    page.click("Reset")
    assert page.model.spec.run.seed == 7
    page.set("Seed (0: the scenario's)", 0)
    page.click("Reset")
    assert page.model.spec.run.seed == baseline_spec.run.seed


# --- two sessions ------------------------------------------------------------------------------------------


def test_the_one_tab_has_a_name_and_every_slider_shows_its_value(open_page):
    """The panels sit under a tab named for them (not "Page 0"); each slider writes its value after it,
    and a moved slider its new value."""
    page = open_page()
    assert [w.children for w in page.rc.find(v.Tab).widgets] == [[app.TAB]]
    sliders = page.rc.find(v.Slider).widgets
    assert (
        len(sliders)
        == sum(
            c.get("type", "").startswith("Slider")
            for c in app.controls(app.scenario_file()).values()
            if isinstance(c, dict)
        )
        + 2
    )  # and SolaraViz's play and render intervals

    values = page.rc.find(v.Html, class_="slider-value").widgets
    ours = [
        w
        for w in sliders
        if w.label in {c.get("label") for c in app.controls(app.scenario_file()).values() if isinstance(c, dict)}
    ]
    assert len(values) == len(ours)

    def shown(label: str) -> str:  # the value written after the slider (the sliders and values in one order)
        return values[[w.label for w in ours].index(label)].children[0]

    assert shown("Pension age (years)") == "60" and shown("Publicity (0-1)") == "0.5"
    assert shown("Residents shown") == str(RESIDENTS_SHOWN)
    page.set("Pension age (years)", 65)
    page.set("Account interest rate (per year)", 0.0225)
    assert shown("Pension age (years)") == "65" and shown("Account interest rate (per year)") == "0.0225"


def test_two_sessions_run_their_own_models(open_page):
    first, second = open_page(), open_page()
    assert first.model is not second.model
    first.step(2)
    assert first.model.year == 2013 and first.time_shown() == 2
    assert second.model.year == 2011 and second.time_shown() == 0
    second.set("Residents shown", 1000)
    second.click("Reset")
    assert first.model.levers.residents == RESIDENTS_SHOWN and second.model.levers.residents == 1000
    assert first.model.year == 2013


# --- the components ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model() -> CountyModel:
    return CountyModel(residents=1000)


def render_component(component, model):
    @solara.component
    def Shown():
        return component(model)

    _box, rc = solara.render(Shown(), handle_error=False)
    return rc


def chart_titles(spec: dict) -> list[str]:
    titles = [spec["title"]] if isinstance(spec.get("title"), str) else []
    for key in ("hconcat", "vconcat", "layer"):
        for part in spec.get(key, []):
            titles += chart_titles(part)
    return titles


# each chart component and the titles it shows (components are not hashable: listed in pairs)
CHARTS = [
    (panels.Enrolment, ["Enrolment"]),
    (panels.Grades, ["Grades chosen (share of payers)"]),
    (panels.Pensions, ["Mean pension (yuan/month)", "Adequacy"]),
    (panels.Fund, ["Fund (million yuan)", "Public spending (million yuan/year)"]),
    (panels.Sustainability, ["Funding ratio", "Public cost (share)"]),
]


def test_the_components_are_the_seven_panels():
    assert (panels.CountyMap, panels.Explanation, *(c for c, _ in CHARTS)) == panels.COMPONENTS


@pytest.mark.parametrize("component", panels.COMPONENTS, ids=lambda c: c.__name__)
def test_each_component_renders_before_any_step(component):
    model = CountyModel(residents=1000)
    rc = render_component(component, model)
    rc.close()


@pytest.mark.parametrize("component, titles", CHARTS, ids=[c.__name__ for c, _ in CHARTS])
def test_each_chart_draws_the_years_simulated(component, titles):
    model = CountyModel(residents=1000)
    for years in (1, 3):
        while model.year < 2011 + years:
            model.step()
        rc = render_component(component, model)
        widget = rc.find(solara.widgets.VegaLite).widget
        assert chart_titles(widget.spec) == titles
        datasets = widget.spec["datasets"]
        assert datasets and all(datasets.values()), datasets
        for rows in datasets.values():
            assert sorted({row["year"] for row in rows}) == list(range(2011, 2011 + years))
        rc.close()


def test_the_map_shows_every_resident_and_the_status_shares():
    model = CountyModel(residents=1000)
    model.step()
    rc = render_component(panels.CountyMap, model)
    texts = [c for w in rc.find(v.Html, tag="span").widgets for c in w.children if isinstance(c, str)]
    assert texts[0] == (
        f"The county in 2011: {len(model.population):,} residents in "
        f"{model.county.villages} villages, one cell each; click a village to see why one "
        "of its residents pays what they pay"
    )
    assert texts[1] == panels.levers_in_force(model.levers)
    spec = rc.find(solara.widgets.VegaLite).widget.spec
    assert map_image(spec) == panels.map_png(
        panels.county_grid(model.population.village, panels.statuses(model), model.county.villages)
    )
    legend = rc.find(solara.widgets.HTML).widget.unsafe_innerHTML
    shares = np.bincount(panels.statuses(model), minlength=len(STATUSES)) / len(model.population)
    assert legend == panels.legend(shares)
    assert shares[STATUSES.index("pensioner")] > 0 and shares[STATUSES.index("not eligible")] < 1
    rc.close()


def test_county_grid_places_every_resident_once_in_its_village_block():
    rng = np.random.default_rng(1)
    villages = 23
    village = rng.integers(0, villages, 700)
    village[village == 5] = 6  # an empty village
    codes = rng.integers(0, len(STATUSES), village.size).astype(np.int8)
    check_grid(village, codes, villages)


def test_county_grid_of_a_model_population(small_model):
    pop = small_model.population
    codes = panels.statuses(small_model)
    check_grid(pop.village, codes, small_model.county.villages)


def check_grid(village: np.ndarray, codes: np.ndarray, villages: int) -> None:
    grid = panels.county_grid(village, codes, villages)
    counts = np.bincount(village, minlength=villages)
    empty = len(STATUSES)
    assert (grid != empty).sum() == village.size  # every resident has one cell, nobody twice
    side = int(np.ceil(np.sqrt(counts.max())))
    columns = int(np.ceil(np.sqrt(villages * panels.MAP_ASPECT)))
    block = side + 1
    assert grid.shape == (int(np.ceil(villages / columns)) * block, columns * block)
    for v_ in range(villages):
        top, left = (v_ // columns) * block, (v_ % columns) * block
        cells = grid[top : top + block, left : left + block]
        assert (cells[side, :] == empty).all() and (cells[:, side] == empty).all()  # the gap between villages
        inside = cells[:side, :side].ravel()
        # the village's residents, in id (= row) order, fill its block row by row
        assert np.array_equal(inside[: counts[v_]], codes[village == v_]), v_
        assert (inside[counts[v_] :] == empty).all(), v_


def test_map_png_is_a_png_of_the_grid():
    grid = panels.county_grid(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 2, 3, 4, 4], dtype=np.int8), 3)
    png = panels.map_png(grid)
    assert png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(png))
    scale = panels.MAP_PIXELS // max(grid.shape)
    assert image.size == (grid.shape[1] * scale, grid.shape[0] * scale)
    colours = {tuple(c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)}
    assert colours == {tuple(c) for c in panels.PALETTE}  # every status once, and empty cells


def map_image(spec: dict) -> bytes:
    url = spec["layer"][0]["data"]["values"][0]["url"]
    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.removeprefix("data:image/png;base64,"))


def test_each_village_block_holds_exactly_its_residents_cells():
    """A click on a village's block on the map is a click on that village's residents' cells."""
    rng = np.random.default_rng(2)
    villages = 23
    village = rng.integers(0, villages, 700)
    village[village == 5] = 6  # an empty village
    grid = panels.county_grid(village, np.zeros(village.size, dtype=np.int8), villages)
    blocks = panels.village_blocks(village, villages)
    assert [b["village"] for b in blocks] == list(range(villages))
    counts = np.bincount(village, minlength=villages)
    for b in blocks:
        cells = grid[b["y"] : b["y2"], b["x"] : b["x2"]]
        assert (cells == 0).sum() == counts[b["village"]] == b["residents"]
    assert sum((grid[b["y"] : b["y2"], b["x"] : b["x2"]] == 0).sum() for b in blocks) == village.size


def test_the_map_spec_lays_the_blocks_over_the_image_and_outlines_the_selected_village():
    village = np.array([0, 0, 1, 2, 2, 2])
    png = panels.map_png(panels.county_grid(village, np.zeros(6, dtype=np.int8), 3))
    spec = panels.map_spec(png, village, 3, selected=2)
    assert map_image(spec) == png
    image, blocks = spec["layer"]
    grid = panels.county_grid(village, np.zeros(6, dtype=np.int8), 3)
    # the image and the blocks share one cell scale, the grid's whole width and height
    assert image["encoding"]["x"]["scale"]["domain"] == [0, grid.shape[1]]
    assert image["encoding"]["y"]["scale"]["domain"] == [0, grid.shape[0]]
    assert blocks["encoding"]["x"] == image["encoding"]["x"] and blocks["encoding"]["y"] == image["encoding"]["y"]
    assert [b["selected"] for b in blocks["data"]["values"]] == [False, False, True]
    assert spec["height"] == round(panels.MAP_WIDTH * grid.shape[0] / grid.shape[1])


def test_legend_names_every_status_with_its_share():
    html = panels.legend(np.array([0.5, 0.1, 0.2, 0.15, 0.05]))
    for status, share in zip(STATUSES, ["50%", "10%", "20%", "15%", "5%"]):
        assert f"{status} {share}" in html
    for colour in panels.STATUS_COLOURS:
        assert colour in html


# --- why a resident pays what they pay ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stepped_model() -> CountyModel:
    """A county after three simulated years (the map shows 2013)."""
    model = CountyModel(residents=1000)
    for _ in range(3):
        model.step()
    return model


def a_chooser(model, index: int = 0) -> int:
    pop = model.population
    return int(pop.id[panels.choosers(model)][index])


def test_explain_shown_is_the_command_lines_explanation_of_the_year_shown(stepped_model):
    """What `pension-abm explain --year 2013` works out: the scenario run up to 2013, then explained."""
    resident = a_chooser(stepped_model, 7)
    shown = stepped_model.explain_shown(resident)
    assert shown["year"] == panels.shown_year(stepped_model) == 2013
    fresh = CountyModel(residents=1000)
    while fresh.year < 2013:
        fresh.step()
    expected = diagnostics.explain(fresh, resident)
    assert shown["alternatives"] == expected["alternatives"]
    village = int(stepped_model.population.village[stepped_model.population.rows(np.array([resident]))[0]])
    assert shown["resident"] == expected["resident"] | {"village": village}


def test_explaining_leaves_the_run_as_it_is():
    """Explaining (it opens a year on a copy) neither moves the model's random numbers nor its residents
    (financial education on: opening a year draws who is taught)."""
    explained, untouched = (CountyModel(residents=1000, reform_year=2012, financial_education=0.5) for _ in "ab")
    for model in (explained, untouched):
        model.step()
        model.step()  # the map shows 2012
    explained.explain_shown(a_chooser(explained))
    explained.explain_shown(a_chooser(explained, 3))
    for model in (explained, untouched):
        model.step()
    assert explained.indicators == untouched.indicators
    assert np.array_equal(explained.population.literate, untouched.population.literate)
    assert np.array_equal(explained.population.awareness, untouched.population.awareness)


def test_before_any_step_the_choice_to_come_is_explained():
    model = CountyModel(residents=1000)
    resident = a_chooser(model)
    shown = model.explain_shown(resident)
    assert shown["year"] == model.year == 2011
    assert shown["alternatives"] == diagnostics.explain(model, resident)["alternatives"]
    assert panels.explanation_title(shown, None, stepped=False).endswith("2011: the choice to come")


def test_the_explanation_chart_splits_each_utility_into_its_mechanisms(stepped_model):
    from abm.sim.choice import MECHANISMS

    explained = stepped_model.explain_shown(a_chooser(stepped_model))
    parts, totals = panels.explanation_records(explained)
    grades = [a["grade"] for a in explained["alternatives"]]
    assert grades[0] == 0 and len(grades) > 2
    labels = ["not paying", *(str(g) for g in grades[1:])]
    assert [t["alternative"] for t in totals] == labels
    assert sum(t["probability"] for t in totals) == pytest.approx(1)
    for alternative, total in zip(explained["alternatives"], totals):
        mine = [p for p in parts if p["alternative"] == total["alternative"]]
        assert [p["mechanism"] for p in mine] == list(MECHANISMS)
        assert [p["rank"] for p in mine] == list(range(len(MECHANISMS)))  # stacked in that order
        assert sum(p["utility"] for p in mine) == pytest.approx(alternative["utility"])  # the bars add up
        assert total["top"] == pytest.approx(sum(max(p["utility"], 0) for p in mine))
    spec = panels.explanation_spec(explained)
    bars, net, probability = spec["layer"]
    assert bars["data"]["values"] == parts and net["data"]["values"] == totals == probability["data"]["values"]
    assert bars["encoding"]["x"]["sort"] == labels
    assert bars["encoding"]["color"]["scale"]["domain"] == list(MECHANISMS)
    assert probability["encoding"]["text"]["field"] == "probability"


@pytest.mark.parametrize(
    "paid, stepped, ending",
    [
        (100, True, "2013: why they pay 100"),
        (0, True, "2013: why they do not pay"),
        (None, True, "2013: their choice (died or left since)"),
        (None, False, "2013: the choice to come"),
    ],
)
def test_the_explanation_title_says_who_where_when_and_what_they_pay(paid, stepped, ending):
    explained = {"year": 2013, "resident": {"id": 1234, "age": 47, "village": 12}}
    assert panels.explanation_title(explained, paid, stepped) == f"Resident 1234 (age 47, village 12), {ending}"


def test_a_click_picks_a_resident_of_the_clicked_village_and_clicks_again_go_through_them(stepped_model):
    pop = stepped_model.population
    chooses = panels.choosers(stepped_model)
    village = int(np.bincount(pop.village[chooses]).argmax())
    residents = pop.id[(pop.village == village) & chooses].tolist()
    assert len(residents) > 2
    picked = [panels.clicked(stepped_model, {"village": village}, None)]
    for _ in range(len(residents)):
        picked.append(panels.clicked(stepped_model, {"village": village}, picked[-1]))
    assert picked == [*residents, residents[0]]  # in id order, then around again
    other = int(pop.village[chooses][pop.village[chooses] != village][0])
    assert panels.clicked(stepped_model, {"village": other}, residents[1]) == panels.pick_resident(stepped_model, other)
    assert panels.clicked(stepped_model, None, residents[1]) == residents[1]  # a click beside the blocks
    assert panels.clicked(stepped_model, {"x": 3}, residents[1]) == residents[1]


def test_a_village_where_nobody_chose_gives_nobody(stepped_model):
    pop = stepped_model.population
    empty = sorted(set(range(stepped_model.county.villages)) - set(pop.village[panels.choosers(stepped_model)]))
    village = empty[0] if empty else stepped_model.county.villages  # one past the last if all chose
    assert panels.pick_resident(stepped_model, village) is None


def test_choosers_are_who_chose_in_the_year_shown(stepped_model):
    pop = stepped_model.population
    chooses = panels.choosers(stepped_model)
    assert chooses.any() and np.all(pop.choice[chooses] >= 0) and not pop.gov_paid[chooses].any()
    for resident in pop.id[chooses][:20]:
        stepped_model.explain_shown(int(resident))  # each has an explanation


def render_explanation(model):
    @solara.component
    def Shown():
        with solara.Column() as main:
            panels.CountyMap(model)
            panels.Explanation(model)
        return main

    _box, rc = solara.render(Shown(), handle_error=False)
    return rc


def card_texts(rc) -> list[str]:
    return [str(c) for w in rc.find(v.Html, tag="span").widgets for c in w.children if isinstance(c, str)]


def the_map(rc) -> solara.widgets.VegaLite:
    maps = [w for w in rc.find(solara.widgets.VegaLite).widgets if w.listen_to_click]
    assert len(maps) == 1
    return maps[0]


def explanation_chart(rc) -> dict | None:
    charts = [w for w in rc.find(solara.widgets.VegaLite).widgets if not w.listen_to_click]
    assert len(charts) <= 1
    return charts[0].spec if charts else None


def test_the_explanation_card_follows_a_click_on_the_map_and_each_step():
    model = CountyModel(residents=1000)
    model.step()
    rc = render_explanation(model)
    assert explanation_chart(rc) is None
    assert any(t.startswith("Click a village on the map") for t in card_texts(rc))
    clickable = the_map(rc)
    village = int(model.population.village[panels.choosers(model)][0])
    clickable.vue_altair_click({"village": village, "residents": 3})  # the datum vega sends
    resident = panels.selection(model).value
    assert resident == panels.pick_resident(model, village)
    row = model.population.rows(np.array([resident]))[0]
    title = panels.explanation_title(model.explain_shown(resident), int(model.population.choice[row]), True)
    assert title in card_texts(rc) and title.startswith(f"Resident {resident} (")
    assert f"village {village}), 2011: why they" in title
    assert explanation_chart(rc) == panels.explanation_spec(model.explain_shown(resident))
    assert [b["selected"] for b in clickable.spec["layer"][1]["data"]["values"]].index(True) == village
    model.step()  # the next year, redrawn as the page does
    force_update()
    assert model.year == 2013 and explanation_chart(rc) == panels.explanation_spec(model.explain_shown(resident))
    assert any(t.startswith(f"Resident {resident} (") and ", 2012: " in t for t in card_texts(rc))
    rc.close()


@pytest.mark.parametrize("who", ["unknown", "pensioner", "child of the future"])
def test_the_explanation_card_says_why_there_is_no_chart(who, stepped_model):
    pop = stepped_model.population
    resident = {"unknown": 10**9, "pensioner": int(pop.id[pop.pensioner][0]), "child of the future": int(pop.next_id)}[
        who
    ]
    message = panels.explained_resident(stepped_model, resident)
    assert isinstance(message, str) and message.startswith(f"Resident {resident} ")
    assert ("does not choose a grade in 2013" in message) == (who == "pensioner")
    panels.selection(stepped_model).set(resident)
    try:
        rc = render_explanation(stepped_model)
        assert message in card_texts(rc)
        assert explanation_chart(rc) is None
        rc.close()
    finally:
        panels.selection(stepped_model).set(None)


def test_a_resident_who_died_since_is_still_explained(stepped_model):
    """The explanation is of the year shown: a resident who chose then and died at its end still has one."""
    twin = stepped_model.before._twin()
    gone = np.setdiff1d(twin.population.id, stepped_model.population.id)
    chose = [int(r) for r in gone if not isinstance(panels.explained_resident(stepped_model, int(r)), str)]
    assert chose, "nobody who could choose died or left in 2013"
    panels.selection(stepped_model).set(chose[0])
    try:
        rc = render_explanation(stepped_model)
        assert any(t.endswith("2013: their choice (died or left since)") for t in card_texts(rc))
        assert explanation_chart(rc) is not None
        rc.close()
    finally:
        panels.selection(stepped_model).set(None)


def test_typing_a_resident_id_selects_that_resident(stepped_model):
    resident = a_chooser(stepped_model, 4)
    rc = render_explanation(stepped_model)
    field = rc.find(v.TextField, label="Resident id").widget
    field.v_model = str(resident)
    field.fire_event("keyup.enter")
    try:
        assert panels.selection(stepped_model).value == resident
        assert explanation_chart(rc) == panels.explanation_spec(stepped_model.explain_shown(resident))
    finally:
        rc.close()
        panels.selection(stepped_model).set(None)


# --- the command line --------------------------------------------------------------------------------------


@pytest.fixture
def no_server(monkeypatch):
    """`pension-abm viz` must fail before it starts a server."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"the server was started: {args}")

    monkeypatch.setattr("abm.viz.server.subprocess.Popen", refuse)


BAD_SCENARIOS = {
    "missing file": (None, "file not found"),
    "invalid YAML": ("name: [\n", "invalid YAML"),
    "missing field": ("name: x\nstart_year: 2011\n", "end_year"),
}


@pytest.mark.parametrize("case", BAD_SCENARIOS)
def test_viz_with_a_bad_scenario_exits_2_with_one_message(tmp_path, no_server, case):
    text, fragment = BAD_SCENARIOS[case]
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    result = invoke("viz", path, "--port", "8799")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert squash(str(path)) in squash(result.output)
    assert fragment in result.output
    assert len(re.findall(r"error", result.output, flags=re.IGNORECASE)) == 1, result.output


def test_viz_with_a_bad_scenario_does_not_announce_the_page(tmp_path, no_server):
    """The page's address is printed only once the scenario is known to be good."""
    result = invoke("viz", tmp_path / "missing.yaml")
    assert result.exit_code == 2
    assert "http://" not in result.output, result.output


def test_viz_serves_the_scenario_it_is_given(monkeypatch, small_scenario_file):
    """A good scenario: solara is started on the address asked for, with the scenario, the offline
    front-end cache and no telemetry in its environment."""
    calls, served = [], {}

    class Server:  # stands for the solara process: records how it was started, exits at once
        def __init__(self, cmd, env, preexec_fn):
            cache = Path(env["SOLARA_ASSETS_PROXY_CACHE_DIR"])  # temporary: look into it while it "runs"
            served.update({spec: (cache / spec / "package.json").is_file() for spec in server.FRONT_END})
            calls.append((cmd, env))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr("abm.viz.server.subprocess.Popen", Server)
    result = invoke("viz", small_scenario_file, "--host", "127.0.0.1", "--port", "8799")
    assert result.exit_code == 0, result.output
    ((cmd, env),) = calls
    assert cmd[1:5] == ["-m", "solara", "run", "abm.viz.app"]
    assert cmd[cmd.index("--port") + 1] == "8799" and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert "--production" in cmd
    assert Path(env[app.SCENARIO_VARIABLE]) == small_scenario_file
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert served and all(served.values()), served
    assert "vega@5" in served and "requirejs@2.3.6" in served
    assert not Path(env["SOLARA_ASSETS_PROXY_CACHE_DIR"]).exists(), "the temporary front-end folder was left behind"


def test_a_scenario_without_subsidy_on_the_lowest_grade_can_still_be_given_one(baseline_spec):
    levers = scenario_levers(baseline_spec)
    moved = Levers(**{**levers.__dict__, "subsidy_level": 20})
    assert subsidy_rules(moved, [[100, 0], [500, 30]]) == [[100, 20], [500, 50]]
    assert subsidy_rules(moved, [[100, 30], [500, 60]]) == [[100, 20], [500, 40]]


def test_front_end_files_missing_from_a_folder_are_named(tmp_path):
    """Every front-end request the installed solara-assets cannot answer is named (here: all of them)."""
    assert server.missing_assets(tmp_path) == list(server.FRONT_END)
    assert server.missing_assets() == [], "solara-assets (pinned in pyproject.toml) lacks files the page loads"
