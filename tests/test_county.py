"""The county schema: every value of a county file has a range, and a scenario's county overrides
are checked by the same schema, at the scenario's line, when the scenario is loaded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from abm.infra.errors import UserError
from abm.inputs.county import County, load_county
from abm.inputs.loader import load_scenario
from helpers import BASELINE, COUNTY_FILE, invoke, squash


def test_the_shipped_county_passes_the_schema_unchanged(baseline):
    """The county stays the validated object it was read into (values as in the file)."""
    county = load_county(baseline)
    assert isinstance(county, County)
    raw = yaml.safe_load(COUNTY_FILE.read_text(encoding="utf-8"))
    assert set(county.model_dump()) == set(raw) == set(County.model_fields)
    assert county.population == raw["population"]["value"]
    assert county.children.model_dump() == raw["children"]["value"]
    assert county.rural_income == raw["rural_income"]["values"]


def test_the_shanxi_file_holds_the_provinces_census_totals_each_with_unit_and_source(baseline):
    """abm/data/counties/shanxi.yaml: the 2020 census (34,915,616 people, 18.92% aged 60+, 12.90% 65+), every
    value with its unit and source; one to one it simulates about 28.7 million residents aged 16+."""
    from abm.sim.demography import LifeTable
    from abm.sim.population import age_distribution

    path = COUNTY_FILE.parent / "shanxi.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert all(
        {"unit", "source"} <= set(leaf) and ("value" in leaf) != ("values" in leaf)
        for name, leaf in raw.items()
        if name != "name"
    )
    scenario = baseline.model_copy(
        update={"population": baseline.population.model_copy(update={"county": "shanxi", "residents": None})}
    )
    county = load_county(scenario)
    assert set(county.model_dump()) == set(County.model_fields) and county.population == 34_915_616
    bands = county.age_bands
    assert bands["60-64"] + bands["65-104"] == pytest.approx(0.1892, abs=5e-5)
    assert bands["65-104"] == pytest.approx(0.1290, abs=5e-5)
    assert county.rural_income[2022] == 16_323 and county.rural_income[2023] == 17_677
    adults = county.population * age_distribution(county, LifeTable.for_county(county))[16:].sum()
    assert 28.0e6 < adults < 29.5e6


def county_with(tmp: Path, name: str, value) -> Path:
    """The shipped county file with one value replaced (units and sources kept)."""
    data = yaml.safe_load(COUNTY_FILE.read_text(encoding="utf-8"))
    data[name]["values" if "values" in data[name] else "value"] = value
    path = tmp / "county.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def scenario_for(tmp: Path, body: str) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(f"extends: {BASELINE}\nname: county_case\n{body}", encoding="utf-8")
    return path


BAD_VALUES = {  # value name: (bad value, field path, message fragment)
    "villages": (math.inf, "villages", "finite number"),
    "population": (-5, "population", "greater than or equal to 1"),
    "male_share": (float("nan"), "male_share", "finite number"),
    "education_shares": (
        {"primary_or_less": 0.5, "junior_secondary": 0.5, "senior_secondary_or_more": 0.5},
        "education_shares",
        "add up to 1",
    ),
    "children": ({"under_40": 1.3, "from_40": 99}, "children.from_40", "less than or equal to 20"),
    "awareness": ({"mean": 1.0, "concentration": 5}, "awareness.mean", "less than 1"),
    "schooling": ({10: 1.0}, "schooling.10", "greater than or equal to 16"),
    "rural_income": ({2012: 6000, 2011: 5000}, "rural_income", "increasing order"),
    "age_bands": ({"0-14": 0.2, "fifteen+": 0.8}, "age_bands", "'first-last'"),
    "disabled_share": (0.96, "disabled_share", "disabled_share + poor_share"),
}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_a_bad_county_file_names_its_file_value_and_line(tmp_path, name):
    value, field, fragment = BAD_VALUES[name]
    county = county_with(tmp_path, name, value)
    with pytest.raises(UserError) as info:
        load_scenario(scenario_for(tmp_path, f"population: {{county: {county}}}\n"))
    err = info.value
    assert err.file == str(county) and fragment in err.message, str(err)
    if field != "(top level)":
        assert err.field == field, str(err)
        line = next(i for i, text in enumerate(county.read_text().splitlines(), 1) if text.startswith(f"{name}:"))
        assert err.line is not None and err.line > line, str(err)  # at or below the value's key, not line 1


OVERRIDES = {  # override (YAML): (field path, message fragment)
    "villages: .inf": ("population.county_overrides.villages", "finite number"),
    "children: {from_40: -1}": ("population.county_overrides.children.from_40", "greater than or equal to 0"),
    "education_shares: {junior_secondary: 0.9}": ("population.county_overrides.education_shares", "add up to 1"),
    "trust: {mean: .nan}": ("population.county_overrides.trust.mean", "finite number"),
    "poor_share: 0.99": ("population.county_overrides.poor_share", "disabled_share + poor_share"),
    "bogus: 1": ("population.county_overrides.bogus", "unknown county value"),
}


@pytest.mark.parametrize("override", list(OVERRIDES))
def test_county_overrides_are_checked_by_the_same_schema_at_the_scenarios_line(tmp_path, override):
    field, fragment = OVERRIDES[override]
    path = scenario_for(tmp_path, f"population:\n  county_overrides:\n    {override}\n")
    with pytest.raises(UserError) as info:
        load_scenario(path)
    assert info.value.file == str(path) and info.value.field == field, str(info.value)
    assert fragment in info.value.message and info.value.line == 5, str(info.value)


def test_an_override_on_the_command_line_is_named_as_such(tmp_path):
    result = invoke("run", BASELINE, "--out", tmp_path / "out", "--set", "population.county_overrides.villages=0")
    text = squash(result.output)
    assert result.exit_code == 2 and "population.county_overrides.villages:" in text, result.output
    assert "(setonthecommandline)" in text and not (tmp_path / "out").exists()


def test_good_overrides_merge_into_the_county(tmp_path):
    path = scenario_for(tmp_path, "population:\n  county_overrides: {children: {from_40: 1.5}, villages: 12}\n")
    county = load_county(load_scenario(path))
    assert county.children.model_dump() == {"under_40": 1.3, "from_40": 1.5} and county.villages == 12
