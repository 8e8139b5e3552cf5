"""Scenario files: the shipped scenarios, ``extends`` chains, ``--set`` overrides, and one clear
error (file, line, field path, what is allowed) for each kind of mistake."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from abm.analysis.effects import changes
from abm.infra.errors import UserError
from abm.inputs.county import load_county
from abm.inputs.loader import load_scenario
from abm.sim.model import PensionModel
from helpers import BASELINE, invoke, latest, small, squash, when, year_policy

SCENARIO_DIR = BASELINE.parent
SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.yaml"))
POLICY_FILES = [p for p in SCENARIO_FILES if p != BASELINE]
SMALL = ["population.residents=1000", "end_year=2013"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    """1-based number of the first line of ``path`` containing ``marker``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, text in enumerate(lines, start=1) if marker in text)


def child(tmp_path: Path, body: str, name: str = "child.yaml") -> Path:
    """A scenario file extending the shipped baseline (by absolute path), with ``body`` after its header."""
    return write(tmp_path / name, f"# a variant of the baseline\nextends: {BASELINE}\nname: child\n{body}")


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- the shipped scenarios -----------------------------------------------------------------------


def test_scenario_folder_holds_the_scenarios_listed_in_the_readme():
    """The README's table of the studies' scenarios names exactly the shipped scenario files."""
    readme = (BASELINE.parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("The scenarios from the studies", 1)[1].split("`pension-abm compare", 1)[0]
    listed = re.findall(r"^\| `([A-Za-z0-9_.-]+)` \|", table, flags=re.MULTILINE)
    assert BASELINE in SCENARIO_FILES and POLICY_FILES
    assert sorted(listed) == sorted(load_scenario(p).name for p in SCENARIO_FILES)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_shipped_scenario_loads_and_validates(path):
    spec = load_scenario(path)
    assert spec.source_file == path.resolve()
    assert spec.start_year == spec.policy.launch_year <= spec.end_year
    assert spec.population.residents is None or spec.population.residents >= 100


def test_policy_scenarios_have_distinct_names():
    names = [load_scenario(p).name for p in SCENARIO_FILES]
    assert len(set(names)) == len(names), names


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.stem)
def test_policy_scenario_has_a_header_comment_and_extends_the_baseline(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#"), first
    assert raw(path)["extends"] == "baseline.yaml"


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.stem)
def test_policy_scenario_differs_from_the_baseline_and_inherits_the_rest(path, baseline):
    spec = load_scenario(path)
    assert spec.name != baseline.name
    changed = [
        section
        for section in ("policy", "economy")
        if getattr(spec, section).model_dump() != getattr(baseline, section).model_dump()
    ]
    assert changed, f"{path.name} changes no policy or economy field"
    written = set(raw(path))
    for section in ("start_year", "end_year", "population", "policy", "economy", "behaviour", "run"):
        if section not in written:  # not written in the file: exactly the baseline's
            assert getattr(spec, section) == getattr(baseline, section), section
    # every policy field the file does not write is the baseline's
    for field, value in spec.policy:
        if field not in raw(path).get("policy", {}):
            assert value == getattr(baseline.policy, field), field


def test_financial_education_teaches_every_resident_aged_16_to_59_from_2026(baseline):
    """The lever is off before 2026 and reaches everyone from then: after 2026 every resident who was
    16-59 at its start has learnt compound interest, which the baseline leaves to a share."""
    spec = load_scenario(SCENARIO_DIR / "financial_education.yaml")
    assert [year_policy(spec, y).financial_education for y in (2025, 2026, 2040)] == [0.0, 1.0, 1.0]
    assert changes(baseline, spec) == ["policy.financial_education"]
    literate = []
    for scenario in (spec, baseline):
        model = PensionModel(scenario=small(scenario, residents=1000, end_year=2026), rng=5)
        while model.year < 2026:
            model.step()
        before = model.population.id[(model.population.age >= 16) & (model.population.age <= 59)]
        model.step()
        pop = model.population
        literate.append(pop.literate[np.isin(pop.id, before)])
    assert literate[0].size > 100 and literate[0].all()
    assert not literate[1].all()


def test_a_dated_lever_must_start_by_the_launch(tmp_path, baseline):
    """A whole scenario (not extending the baseline, whose lever is dated from 2011) whose lever
    starts after the launch is refused, naming the field."""
    data = baseline.model_dump(mode="json", exclude={"source_dir"} & set(type(baseline).model_fields))
    data["policy"]["financial_education"] = {2026: 1.0}
    path = tmp_path / "whole.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(UserError, match="first dated value 2026 is after launch_year 2011") as info:
        load_scenario(path)
    assert info.value.field == "policy.financial_education"


# --- extends -------------------------------------------------------------------------------------


def test_child_changes_one_dated_value_and_inherits_everything_else(tmp_path, baseline):
    path = child(tmp_path, "policy:\n  publicity: {2026: 0.9}\n")
    spec = load_scenario(path)
    assert spec.name == "child"
    assert spec.policy.publicity == {**baseline.policy.publicity, 2026: 0.9}
    assert list(spec.policy.publicity) == sorted({*baseline.policy.publicity, 2026})
    assert spec.policy.model_copy(update={"publicity": baseline.policy.publicity}) == baseline.policy
    for section in ("start_year", "end_year", "population", "economy", "behaviour", "run", "description"):
        assert getattr(spec, section) == getattr(baseline, section), section


def test_new_year_is_inserted_between_the_parents_years(tmp_path, baseline_data):
    parent = baseline_data["policy"]["basic_pension"]
    years = [when(k)[0] for k in parent]
    between = next(y for y in range(min(years), max(years)) if y not in years and y > min(years))
    spec = load_scenario(child(tmp_path, f"policy:\n  basic_pension: {{{between}: 60}}\n"))
    assert list(spec.policy.basic_pension) == sorted([*parent, between], key=when)
    assert spec.policy.basic_pension == {**parent, between: 60}
    assert latest(spec.policy.basic_pension, between) == 60


def test_years_of_the_child_may_fall_between_years_of_the_parent(tmp_path, baseline):
    """Each file lists its years in order; the merged mapping is ordered even if they interleave."""
    write(tmp_path / "mid.yaml", f"extends: {BASELINE}\nname: mid\npolicy:\n  publicity: {{2030: 0.8}}\n")
    spec = load_scenario(write(tmp_path / "low.yaml", "extends: mid.yaml\npolicy:\n  publicity: {2020: 0.6}\n"))
    assert list(spec.policy.publicity.items()) == sorted({**baseline.policy.publicity, 2020: 0.6, 2030: 0.8}.items())


def test_chain_of_two_extends_with_paths_relative_to_each_file(tmp_path, baseline, monkeypatch):
    monkeypatch.chdir(tmp_path / "..")  # relative paths must not depend on the working folder
    write(
        tmp_path / "mid.yaml",
        f"# middle\nextends: {BASELINE}\nname: mid\nend_year: 2030\n"
        "policy:\n  publicity: {2026: 0.9}\n  min_years: 10\n",
    )
    leaf = write(
        tmp_path / "sub" / "leaf.yaml", "# leaf\nextends: ../mid.yaml\nname: leaf\npolicy:\n  publicity: {2028: 0.7}\n"
    )
    spec = load_scenario(leaf)
    assert spec.name == "leaf"  # the child's
    assert spec.end_year == 2030 and spec.policy.min_years == 10  # the middle file's
    assert spec.economy == baseline.economy  # the baseline's
    assert spec.policy.publicity == {**baseline.policy.publicity, 2026: 0.9, 2028: 0.7}
    assert spec.description == baseline.description


def test_extends_names_a_shipped_scenario_when_no_such_file_is_next_to_it(tmp_path, baseline, monkeypatch):
    """`extends: baseline` (as the README's example): the shipped baseline, from any folder."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "baseline", "not a scenario, and not next to the extending file\n")  # the working folder's
    spec = load_scenario(
        write(tmp_path / "mine" / "mine.yaml", "extends: baseline\nname: mine\npolicy:\n  publicity: {2027: 0.9}\n")
    )
    assert spec.name == "mine"
    assert spec.policy.publicity == {**baseline.policy.publicity, 2027: 0.9}
    assert (
        spec.model_copy(update={"name": "baseline", "policy": baseline.policy, "source_file": baseline.source_file})
        == baseline
    )


def test_extends_reads_a_file_next_to_the_extending_file_before_a_shipped_name(tmp_path, baseline):
    """A relative path, or a bare name that is a file there, means the file next to the extending file."""
    write(tmp_path / "baseline.yaml", f"extends: {BASELINE}\nname: local\nend_year: 2030\n")
    write(tmp_path / "baseline", f"extends: {BASELINE}\nname: local_bare\nend_year: 2025\n")
    by_path = load_scenario(write(tmp_path / "a.yaml", "extends: baseline.yaml\nname: a\n"))
    by_name = load_scenario(write(tmp_path / "b.yaml", "extends: baseline\nname: b\n"))
    assert (by_path.end_year, by_name.end_year) == (2030, 2025) and baseline.end_year not in (2030, 2025)


def test_extends_a_name_that_is_neither_a_file_nor_shipped_lists_the_shipped_names(tmp_path):
    path = write(tmp_path / "orphan.yaml", "# orphan\nname: orphan\nextends: basline\n")
    with pytest.raises(UserError) as caught:
        load_scenario(path)
    assert (caught.value.field, caught.value.line, caught.value.file) == ("extends", 3, str(path))
    assert "no such file next to this file" in caught.value.message and "baseline, " in caught.value.message


def test_lists_and_scalars_replace_while_mappings_merge(tmp_path, baseline, baseline_data):
    path = child(
        tmp_path,
        "end_year: 2020\n"
        "policy:\n"
        "  grades: {2014: [100, 200]}\n"
        "  government_paid_groups: {2017: [poor]}\n"
        "  min_years: 10\n"
        "  basic_pension_indexation: {income_share: 0.5}\n"
        "run:\n  report_years: [2015]\n",
    )
    spec = load_scenario(path)
    assert spec.end_year == 2020 and spec.policy.min_years == 10
    assert spec.policy.grades[2014] == [100, 200]  # the list replaced, not extended
    assert spec.policy.grades[2011] == baseline_data["policy"]["grades"][2011]
    assert spec.policy.government_paid_groups[2017] == ["poor"]
    assert spec.run.report_years == [2015]
    indexation = baseline_data["policy"]["basic_pension_indexation"]
    assert spec.policy.basic_pension_indexation.model_dump() == {**indexation, "income_share": 0.5}
    assert spec.run.seed == baseline.run.seed


# --- --set ---------------------------------------------------------------------------------------


def test_set_overrides_fields_and_years_become_ints(baseline):
    spec = load_scenario(
        BASELINE,
        [
            "policy.publicity.2030=0.7",
            "population.residents=1234",
            "run.replications=3",
            "policy.basic_pension.2016=75",
        ],
    )
    assert spec.policy.publicity == {**baseline.policy.publicity, 2030: 0.7}
    assert all(type(year) is int for year in spec.policy.publicity)
    assert list(spec.policy.basic_pension) == sorted({*baseline.policy.basic_pension, 2016}, key=when)
    assert spec.policy.basic_pension[2016] == 75
    assert spec.population.residents == 1234
    assert spec.run.replications == 3
    assert (
        spec.model_copy(update={"policy": baseline.policy, "population": baseline.population, "run": baseline.run})
        == baseline
    )


def test_set_value_is_yaml(baseline):
    spec = load_scenario(
        BASELINE, ["policy.grades.2030=[200, 500]", "policy.backpay=false", ("policy.publicity.2031", 0.6)]
    )
    assert spec.policy.grades == {**baseline.policy.grades, 2030: [200, 500]}
    assert list(spec.policy.grades) == sorted(spec.policy.grades)
    assert spec.policy.backpay is False
    assert spec.policy.publicity[2031] == 0.6


def test_set_applies_over_the_extends_chain(tmp_path, baseline):
    spec = load_scenario(child(tmp_path, "policy:\n  publicity: {2026: 0.9}\n"), ["policy.publicity.2026=0.3"])
    assert spec.policy.publicity == {**baseline.policy.publicity, 2026: 0.3}


def test_set_without_equals_is_an_error_naming_set():
    with pytest.raises(UserError) as info:
        load_scenario(BASELINE, ["population.residents"])
    assert info.value.field == "--set"
    assert "--set" in str(info.value) and "path=value" in str(info.value)


def test_set_to_a_bad_value_says_it_came_from_the_command_line():
    with pytest.raises(UserError) as info:
        load_scenario(BASELINE, ["population.residents=5"])
    text = str(info.value)
    assert info.value.field == "population.residents"
    assert "command line" in text and "100" in text and BASELINE.name in text


# --- one error per kind of mistake ---------------------------------------------------------------
# Each case writes its files and returns (file to load, field path, fragments saying what is wrong
# or allowed, marker of the offending key's line or None). Checks across fields name the field the
# user should change (subsidy rules of a year, the end year), at its line.


def _unknown_key(tmp):
    return child(tmp, "bogus: 1\n"), "bogus", ["unknown field", "allowed", "policy", "economy"], "bogus:"


def _unknown_nested_key(tmp):
    return (
        child(tmp, "policy:\n  publicty: {2011: 0.9}\n"),
        "policy.publicty",
        ["unknown field", "allowed", "publicity", "service_quality"],
        "publicty:",
    )


def _wrong_type(tmp):
    return (child(tmp, "population:\n  residents: many\n"), "population.residents", ["integer", "'many'"], "residents:")


def _share_out_of_range(tmp):
    return (
        child(tmp, "policy:\n  publicity: {2011: 1.5}\n"),
        "policy.publicity.2011",
        ["less than or equal to 1", "1.5"],
        "publicity:",
    )


def _residents_out_of_range(tmp):
    return (
        child(tmp, "population:\n  county: qi_county\n  residents: 5\n"),
        "population.residents",
        ["greater than or equal to 100", "(got 5)"],
        "residents:",
    )


def _years_out_of_order(tmp):
    return (
        child(tmp, "policy:\n  publicity: {2020: 1, 2015: 0.2}\n"),
        "policy.publicity",
        ["increasing order", "2020", "2015"],
        "publicity:",
    )


def _grade_without_subsidy(tmp):
    # the lowest grade (100 in 2011) is below the first subsidy rule (200)
    return (
        child(tmp, "policy:\n  subsidy:\n    2011: [[200, 30]]\n"),
        "policy.subsidy.2011",
        ["subsidy", "no subsidy rule covers grade 100", "2011", "[200]", "from 100 or lower"],
        "2011: [[200",
    )


def _missing_extends_target(tmp):
    path = write(tmp / "orphan.yaml", "# orphan\nname: orphan\nextends: nowhere.yaml\n")
    return path, "extends", ["nowhere.yaml", "not found"], "extends:"


def _extends_loop(tmp):
    write(tmp / "a.yaml", "# a\nextends: b.yaml\nname: a\n")
    write(tmp / "b.yaml", "# b\nextends: a.yaml\nname: b\n")
    return tmp / "a.yaml", "extends", ["loops"], "extends:"


def _yaml_syntax(tmp):
    path = write(tmp / "broken.yaml", f"# broken\nextends: {BASELINE}\nname: broken\nend_year: 2020: 2030\n")
    return path, None, ["invalid YAML"], "end_year:"


def _unknown_behaviour_coefficient(tmp):
    return (
        child(tmp, "behaviour:\n  dynamics: {awarness_decay: 0.1}\n"),
        "behaviour.dynamics",
        ["dynamics", "awarness_decay", "allowed", "awareness_decay", "trust_decay"],
        ("behaviour:", "dynamics:"),
    )


def _end_before_start(tmp):
    return child(tmp, "end_year: 2010\n"), "end_year", ["end_year 2010", "before start_year 2011"], "end_year:"


ERRORS = {
    "unknown key": _unknown_key,
    "unknown nested key": _unknown_nested_key,
    "wrong type": _wrong_type,
    "share out of range": _share_out_of_range,
    "residents out of range": _residents_out_of_range,
    "years out of order": _years_out_of_order,
    "grade without subsidy rule": _grade_without_subsidy,
    "missing extends target": _missing_extends_target,
    "extends loop": _extends_loop,
    "YAML syntax": _yaml_syntax,
    "unknown behaviour coefficient": _unknown_behaviour_coefficient,
    "end before start": _end_before_start,
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_error_names_file_line_field_and_what_is_allowed(tmp_path, case):
    path, field, fragments, marker = ERRORS[case](tmp_path)
    with pytest.raises(UserError) as info:
        load_scenario(path)
    err, text = info.value, str(info.value)
    if case == "extends loop":  # reported where the loop closes: either file of the loop
        assert Path(err.file).name in ("a.yaml", "b.yaml")
        path = tmp_path / Path(err.file).name
    else:
        assert Path(err.file).resolve() == path.resolve()
    assert path.name in text
    if field is not None:
        assert err.field == field and f"{field}:" in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    if marker is not None:
        lines = {line_of(path, m) for m in ((marker,) if isinstance(marker, str) else marker)}
        assert any(f"line {line}:" in text for line in lines), text
        assert err.line in lines, text


@pytest.mark.parametrize("case", list(ERRORS))
def test_cli_run_with_a_bad_scenario_exits_2_and_writes_nothing(tmp_path, monkeypatch, case):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    path, field, fragments, _ = ERRORS[case](scenarios)
    monkeypatch.chdir(tmp_path)
    result = invoke("run", path, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.lstrip().startswith("error:")
    assert squash(f"{field}:" if field else "") in squash(result.output)
    for fragment in fragments:
        assert squash(fragment) in squash(result.output), (fragment, result.output)
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()
    assert [p for p in tmp_path.rglob("*") if ".partial" in p.name or ".old" in p.name] == []


def test_unknown_key_in_the_parent_is_reported_in_the_parent(tmp_path):
    parent = child(tmp_path, "policy:\n  publicty: {2011: 0.9}\n", name="parent.yaml")
    leaf = write(tmp_path / "leaf.yaml", "# leaf\nextends: parent.yaml\nname: leaf\n")
    with pytest.raises(UserError) as info:
        load_scenario(leaf)
    assert Path(info.value.file).resolve() == parent.resolve()
    assert info.value.line == line_of(parent, "publicty:")


def test_years_out_of_order_in_a_child_are_an_error_even_if_the_merge_could_sort_them(tmp_path):
    path = child(tmp_path, "policy:\n  service_quality: {2030: 0.9, 2026: 0.7}\n")
    with pytest.raises(UserError) as info:
        load_scenario(path)
    assert info.value.field == "policy.service_quality"
    assert info.value.line == line_of(path, "service_quality:")


# --- amounts dated from a month ------------------------------------------------------------------


def test_a_monthly_amount_may_be_dated_from_a_month_in_a_file_and_with_set(tmp_path, baseline):
    """`2027-07: 200` holds from July 2027; `--set policy.local_top_up.2028-03=20` likewise; both sort
    among the years, and a January date is kept as the year alone."""
    path = child(tmp_path, "policy:\n  basic_pension: {2026-01: 150, 2027-07: 200}\n")
    spec = load_scenario(path, ["policy.local_top_up.2028-03=20"])
    assert list(spec.policy.basic_pension)[-3:] == [2025, 2026, "2027-07"]
    assert latest(spec.policy.basic_pension, 2027, 6) == 150 and latest(spec.policy.basic_pension, 2027) == 200
    assert spec.policy.local_top_up == {**baseline.policy.local_top_up, "2028-03": 20}


@pytest.mark.parametrize("value", ["2014-13", "2014-00", "14-07", "July"])
def test_a_bad_month_date_names_the_field(tmp_path, value):
    path = child(tmp_path, f"policy:\n  basic_pension: {{{value}: 70}}\n")
    with pytest.raises(UserError) as info:
        load_scenario(path)
    assert info.value.field.startswith("policy.basic_pension")


def test_month_dates_are_only_for_monthly_amounts(tmp_path):
    """Grades, subsidies and other yearly rules take years only."""
    with pytest.raises(UserError) as info:
        load_scenario(child(tmp_path, "policy:\n  publicity: {2027-07: 0.9}\n"))
    assert info.value.field.startswith("policy.publicity")


# --- where errors point: the key, the offending field, the file (not an unrelated --set) ----------


@pytest.mark.parametrize(
    "body, marker",
    [
        ("policy:\n  publicty:\n    2011: 0.9\n", "publicty:"),  # unknown key, block mapping value
        ("policy:\n  grades:\n    - 100\n    - 200\n", "grades:"),  # wrong type (list, not dated), block
        ("end_year: 2010\n", "end_year:"),  # cross-field: the offending key
        ("policy:\n  publicity: {2011: 0.5}\n  subsidy:\n    2011: [[200, 30]]\n", "2011: [[200"),  # its year
    ],
    ids=["unknown key", "wrong type", "end before start", "subsidy after another key"],
)
def test_an_error_points_at_the_offending_keys_line(tmp_path, body, marker):
    path = child(tmp_path, body)
    with pytest.raises(UserError) as info:
        load_scenario(path)
    assert info.value.line == line_of(path, marker), str(info.value)


@pytest.mark.parametrize(
    "body, override",
    [
        ("end_year: 2010\n", "population.residents=1000"),
        ("policy:\n  subsidy:\n    2011: [[200, 30]]\n", "policy.publicity.2030=0.7"),
    ],
    ids=["end before start", "subsidy"],
)
def test_file_error_is_not_blamed_on_an_unrelated_set(tmp_path, body, override):
    path = child(tmp_path, body)
    with pytest.raises(UserError) as info:
        load_scenario(path, [override])
    assert "command line" not in str(info.value)
    assert info.value.line is not None


def test_yaml_syntax_error_sets_the_line_attribute(tmp_path):
    path, _, _, marker = _yaml_syntax(tmp_path)
    with pytest.raises(UserError) as info:
        load_scenario(path)
    assert info.value.line == line_of(path, marker)


# --- the scenario saved with a result ------------------------------------------------------------


def test_saved_scenario_reloads_to_the_same_scenario_without_extends(tmp_path, baseline):
    write(tmp_path / "mid.yaml", f"# mid\nextends: {BASELINE}\nname: mid\npolicy:\n  publicity: {{2012: 0.8}}\n")
    leaf = write(tmp_path / "leaf.yaml", "# leaf\nextends: mid.yaml\nname: leaf\neconomy:\n  inflation: {2012: 0.03}\n")
    overrides = [*SMALL, "policy.service_quality.2013=0.7"]
    out = tmp_path / "results" / "leaf"
    sets = [arg for item in overrides for arg in ("--set", item)]
    result = invoke("run", leaf, "--out", out, "--quiet", "--workers", "1", *sets)
    assert result.exit_code == 0, result.output
    saved = out / "scenario.yaml"
    data = raw(saved)
    assert "extends" not in data and "source_file" not in data
    reloaded, original = load_scenario(saved), load_scenario(leaf, overrides)
    assert reloaded.model_dump() == original.model_dump()
    assert reloaded.policy.publicity == {**baseline.policy.publicity, 2012: 0.8}
    assert reloaded.policy.service_quality == {**baseline.policy.service_quality, 2013: 0.7}
    assert reloaded.economy.inflation == {**baseline.economy.inflation, 2012: 0.03}
    assert (reloaded.population.residents, reloaded.end_year) == (1000, 2013)


@pytest.mark.slow
def test_saved_scenario_with_a_relative_county_path_still_finds_the_county(tmp_path, monkeypatch, baseline_data):
    county = Path(__file__).resolve().parent.parent / "abm" / "data" / "counties" / "qi_county.yaml"
    write(tmp_path / "data" / "my_county.yaml", county.read_text(encoding="utf-8"))
    data = copy.deepcopy(baseline_data)
    data.update(name="relative", end_year=2012)
    data["population"].update(county="../data/my_county.yaml", residents=1000)
    path = write(tmp_path / "scenarios" / "relative.yaml", yaml.safe_dump(data, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results" / "relative"
    assert invoke("run", path, "--out", out, "--quiet", "--workers", "1").exit_code == 0
    original = load_county(load_scenario(path))
    assert load_county(load_scenario(out / "scenario.yaml")) == original


# --- finite numbers, ranges and checks across fields ----------------------------------------------
# Each case: (child body, field the message names, fragments). Infinity and NaN are refused
# everywhere; a check across fields names the field to change, at its line.

CHECKED = {
    "infinite yuan": ("policy:\n  basic_pension: {2026: .inf}\n", "policy.basic_pension.2026", ["finite number"]),
    "NaN share": ("policy:\n  publicity: {2011: .nan}\n", "policy.publicity.2011", ["finite number"]),
    "infinite divisor": ("policy:\n  annuity_divisor: {60: .inf}\n", "policy.annuity_divisor.60", ["finite number"]),
    "zero divisor": (
        "policy:\n  annuity_divisor: {60: 0.000001}\n",
        "policy.annuity_divisor.60",
        ["greater than or equal to 1"],
    ),
    "huge yuan": (
        "economy:\n  basic_needs_line: 1.0e+300\n",
        "economy.basic_needs_line",
        ["less than or equal to 1000000"],
    ),
    "infinite coefficient": ("behaviour:\n  choice: {pay: -.inf}\n", "behaviour.choice.pay", ["finite number"]),
    "coefficient out of range": (
        "behaviour:\n  choice: {inertia: 5000}\n",
        "behaviour.choice.inertia",
        ["less than or equal to 1000"],
    ),
    "dynamics above 1": (
        "behaviour:\n  dynamics: {trust_decay: 1.5}\n",
        "behaviour.dynamics.trust_decay",
        ["less than or equal to 1"],
    ),
    "grade above the limit": (
        "policy:\n  grades: {2014: [100, 20000, 40000]}\n",
        "policy.grades.2014.2",
        ["less than or equal to 20000"],
    ),
    "subsidy misses a later year's grade": (
        "policy:\n  grades: {2020: [50, 100]}\n",
        "policy.grades.2020",
        ["no subsidy rule covers grade 50 in 2020", "rules start at [100, 500]"],
    ),
    "subsidy rules changed to miss the lowest grade": (
        "policy:\n  subsidy: {2018: [[200, 30]]}\n",
        "policy.subsidy.2018",
        ["no subsidy rule covers grade 100 in 2018"],
    ),
    "government-paid grade not offered": (
        "policy:\n  government_paid_grade: {2016: 250}\n",
        "policy.government_paid_grade.2016",
        ["government-paid grade 250 is not a grade of 2016", "allowed: 100, 200"],
    ),
    "government-paid grade without a rule": (
        "policy:\n  subsidy: {2014: [[200, 30]]}\n  grades: {2014: [200, 300]}\n",
        "policy.subsidy.2014",
        ["government-paid grade 100 has no subsidy rule"],
    ),
    "revision without its first year": (
        "policy:\n  grade_revision: {first_year: null}\n",
        "policy.grade_revision.first_year",
        ["first_year is needed when every is 5", "set every to 0"],
    ),
    "revision based after its first year": (
        "policy:\n  grade_revision: {base_year: 2031}\n",
        "policy.grade_revision.base_year",
        ["base_year 2031 is after first_year 2030"],
    ),
    "revision based before the launch": (
        "policy:\n  grade_revision: {base_year: 2005}\n",
        "policy.grade_revision.base_year",
        ["base_year 2005 is before launch_year 2011"],
    ),
    "revision interval negative": (
        "policy:\n  grade_revision: {every: -5}\n",
        "policy.grade_revision.every",
        ["greater than or equal to 0"],
    ),
    "rounding ladder not from 0": (
        "policy:\n  grade_revision: {rounding: [[100, 100]]}\n",
        "policy.grade_revision.rounding",
        ["starting from 0"],
    ),
    "rounding rung off its step": (
        "policy:\n  grade_revision:\n    rounding: [[0, 100], [1200, 500]]\n",
        "policy.grade_revision.rounding",
        ["the rung from 1200 must start at a multiple of its step 500"],
    ),
    "rounding rungs not increasing": (
        "policy:\n  grade_revision:\n    rounding: [[0, 100], [1000, 500], [500, 100]]\n",
        "policy.grade_revision.rounding",
        ["rungs must start at increasing amounts"],
    ),
    "subsidy rounding zero": (
        "policy:\n  grade_revision: {subsidy_rounding: 0}\n",
        "policy.grade_revision.subsidy_rounding",
        ["greater than or equal to 1"],
    ),
    "revision field misspelt": (
        "policy:\n  grade_revision: {evry: 5}\n",
        "policy.grade_revision.evry",
        ["unknown field", "every, first_year, base_year, rounding, subsidy_rounding"],
    ),
    "report year after the end": (
        "run:\n  report_years: [2011, 2060]\n",
        "run.report_years.1",
        ["report years [2060] are outside the run's 2011-2050"],
    ),
    "end before start": ("end_year: 2010\n", "end_year", ["end_year 2010 is before start_year 2011"]),
    "start is not the launch": ("start_year: 2012\n", "start_year", ["must equal policy.launch_year"]),
}


@pytest.mark.parametrize("case", list(CHECKED))
def test_a_bad_value_is_one_error_naming_the_field_to_change(tmp_path, case):
    body, field, fragments = CHECKED[case]
    path = child(tmp_path, body)
    with pytest.raises(UserError) as info:
        load_scenario(path)
    err, text = info.value, str(info.value)
    assert err.file == str(path) and err.field == field, text
    assert "(top level)" not in text and text.count("(got") <= 1, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    assert err.line is not None and err.line > 3, text  # the offending key's line in the child


@pytest.mark.parametrize(
    "override", ["policy.grade_revision.every=0", "policy.grade_revision=null", "policy.grade_revision={every: 0}"]
)
def test_the_grade_revision_can_be_switched_off_from_the_command_line(baseline, override):
    """--set policy.grade_revision.every=0 (or no rule): the dated lists hold, as in frozen_grades."""
    spec = load_scenario(BASELINE, [override])
    assert spec.policy.grade_revision is None or not spec.policy.grade_revision.active
    frozen = load_scenario(SCENARIO_DIR / "frozen_grades.yaml")
    assert not frozen.policy.grade_revision.active and baseline.policy.grade_revision.active
    assert (
        year_policy(spec, 2050).grades.tolist()
        == year_policy(frozen, 2050).grades.tolist()
        == baseline.policy.grades[2014]
    )


def test_a_grade_kept_for_the_government_paid_groups_is_allowed(tmp_path):
    """grade_redesign drops 100 from 2026 but the government keeps paying it for its groups."""
    spec = load_scenario(SCENARIO_DIR / "grade_redesign.yaml")
    assert 100 not in spec.policy.grades[2026] and spec.policy.government_paid_grade[2026] == 100


def test_a_message_says_what_was_given_once(tmp_path):
    path = child(tmp_path, "policy:\n  publicity: {2020: 1, 2015: 0.2}\n")
    with pytest.raises(UserError) as info:
        load_scenario(path)
    assert str(info.value).count("got") == 1, str(info.value)


@pytest.mark.parametrize(
    "override, message",
    [
        ("behaviour.valuation.discount_rate=0.9", "less than or equal to 0.5"),
        ("behaviour.valuation.pivot_horizon=0", "greater than 0"),
        ("behaviour.valuation.compounding_gap=.nan", "finite"),
        ("behaviour.valuation.bogus=1", "discount_rate, pivot_horizon, compounding_gap"),
    ],
)
def test_valuation_overrides_are_checked_against_the_coefficient_files_ranges(override, message):
    with pytest.raises(UserError) as info:
        load_scenario(BASELINE, [override])
    assert info.value.field == override.split("=")[0] and message in info.value.message


def test_a_valuation_override_reaches_the_model(baseline):
    from abm.sim.model import PensionModel

    spec = load_scenario(BASELINE, ["behaviour.valuation.discount_rate=0.08", "population.residents=200"])
    assert PensionModel(scenario=spec).coefficients.valuation["discount_rate"] == 0.08


@pytest.mark.parametrize("length", [65, 300, 100_000])
def test_a_name_too_long_for_a_folder_is_refused_at_load_in_a_short_message(tmp_path, baseline_data, length):
    """The name becomes a folder name: at most 64 characters. The message quotes only the name's ends,
    however long it is (100,000 characters once made a two-year run of 100 residents take 87 s)."""
    path = tmp_path / "long.yaml"
    path.write_text(
        yaml.safe_dump(dict(baseline_data, name="n" * length, end_year=2012), sort_keys=False), encoding="utf-8"
    )
    result = invoke("run", path, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    message = squash(result.output)
    assert message.startswith(f"error:{path},line1:name:Stringshouldhaveatmost64characters(got'nnnnn"), message
    assert message.endswith(f"nnnn',{length:,}characters)") and len(message) < 400
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [path]


def test_a_sweep_name_is_capped_alike(tmp_path):
    from abm.analysis.sweep import load_sweep

    data = yaml.safe_load((Path(__file__).parent / "data" / "ishigami.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(dict(data, name="s" * 300), sort_keys=False), encoding="utf-8")
    with pytest.raises(UserError, match=r"at most 64 characters \(got 'sss.*sss', 300 characters\)"):
        load_sweep(path)
