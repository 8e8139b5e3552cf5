"""Data files: reading the files a user names (a repeated key, a binary or non-UTF-8 file, nesting
too deep or aliases expanding too far is one message naming the file and line, for every kind of
file); shipped scenarios found by name; the calibration folder of a checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from abm.infra.errors import UserError
from abm.inputs.coefficients import load_coefficients
from abm.inputs.datafiles import (
    MAX_DEPTH,
    MAX_NODES,
    PACKAGE,
    SCENARIOS_DIR,
    checkout_calibration,
    dump,
    parse_yaml,
    read_yaml,
    shipped_file,
)
from abm.inputs.loader import load_scenario
from helpers import BASELINE, CALIBRATION, COUNTY_FILE, REPO_ROOT, STANDIN_FILE, invoke, squash

PENSION_ABM = Path(sys.executable).parent / "pension-abm"


def alias_bomb(levels: int = 8) -> str:
    """Each level lists the previous one ten times: 10**levels values once expanded, a few lines written."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


NESTING = re.compile(r"nest(ed|ing)", re.I)  # too deep, in whichever words the check that met it uses


BAD_TEXT = {  # case: (file bytes, fragment of the message or pattern, line named or None)
    "repeated key": (b"name: a\nend_year: 2012\nend_year: 2013\n", "key 'end_year' given twice (first on line 2)", 3),
    "repeated year": (b"grades:\n  2011: [100]\n  2011: [200]\n", "key 2011 given twice (first on line 2)", 3),
    "binary": (b"name: a\n\x00\x01\x02\xff", "a binary file, not text", None),
    "not UTF-8": ("name: a\ndescription: caf\u00e9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9)", 2),
    "deep flow nesting": (b"d: " + b"[" * 60 + b"]" * 60 + b"\n", f"nested too deeply; at most {MAX_DEPTH}", 1),
    "hostile nesting": (b"d: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", NESTING, 1),
    "alias bomb": (alias_bomb().encode(), f"at most {MAX_NODES:,} values", None),
    "recursive alias": (b"a: &a [*a]\n", "nested too deeply", None),
}


@pytest.mark.parametrize("case", list(BAD_TEXT))
def test_a_bad_yaml_file_is_one_user_error_naming_file_and_line(tmp_path, case):
    content, fragment, line = BAD_TEXT[case]
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        read_yaml(path)
    found = fragment.search(info.value.message) if isinstance(fragment, re.Pattern) else fragment in info.value.message
    assert info.value.file == str(path) and found, str(info.value)
    assert "\n" not in str(info.value), str(info.value)
    if line is not None:
        assert info.value.line == line, str(info.value)


def test_merge_keys_are_not_repeated_keys(tmp_path):
    """YAML's merge key overrides values on purpose: that stays allowed."""
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\n", encoding="utf-8")
    assert read_yaml(path)["child"] == {"x": 1, "y": 3}


def test_a_shared_alias_within_the_limits_reads_as_before(tmp_path):
    path = tmp_path / "alias.yaml"
    path.write_text(alias_bomb(levels=3), encoding="utf-8")
    assert read_yaml(path) == yaml.safe_load(alias_bomb(levels=3))


def _scenario(tmp, body: bytes) -> tuple[list, Path]:
    path = tmp / "bad.yaml"
    path.write_bytes(f"extends: {BASELINE}\nname: bad\n".encode() + body)
    return ["run", path, "--out", tmp / "out", "--quiet"], path


def _sweep(tmp, body: bytes) -> tuple[list, Path]:
    path = tmp / "bad.yaml"
    path.write_bytes(b"name: s\nfunction: ishigami\nmethod: sobol\nsamples: 4\n" + body)
    return ["sweep", path, "--out", tmp / "out", "--workers", 1], path


def _county(tmp, body: bytes) -> tuple[list, Path]:
    path = tmp / "county.yaml"
    path.write_bytes(COUNTY_FILE.read_bytes() + body)
    scenario = tmp / "scenario.yaml"
    scenario.write_text(f"extends: {BASELINE}\nname: c\npopulation: {{county: {path}}}\n", encoding="utf-8")
    return ["run", scenario, "--out", tmp / "out", "--quiet"], path


def _coefficients(tmp, body: bytes) -> tuple[list, Path]:
    path = tmp / "coefficients.yaml"
    default = BASELINE.parent.parent / "abm" / "data" / "coefficients" / "default.yaml"
    path.write_bytes(b"name: priors\n" + default.read_bytes() + body)
    scenario = tmp / "scenario.yaml"
    scenario.write_text(f"extends: {BASELINE}\nname: c\nbehaviour: {{coefficients: {path}}}\n", encoding="utf-8")
    return ["run", scenario, "--out", tmp / "out", "--quiet"], path


def _survey(tmp, body: bytes) -> tuple[list, Path]:
    path = tmp / "survey.csv"
    path.write_bytes(STANDIN_FILE.read_bytes() + body)
    return ["calibrate", "survey", path, "--out", tmp / "out"], path


FILE_KINDS = {
    "scenario": _scenario,
    "sweep": _sweep,
    "county": _county,
    "coefficients": _coefficients,
    "survey": _survey,
}
BODIES = {
    "binary": (b"\x00\x01\xff\n", "abinaryfile"),
    "not UTF-8": (b"# caf\xe9\n", "notUTF-8text"),
    "repeated key": (b"name: again\n", "giventwice"),
    "alias bomb": (alias_bomb().encode(), "values"),
    "deep": (b"deep: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", NESTING),
}
CASES = [
    (kind, body) for kind in FILE_KINDS for body in BODIES if kind != "survey" or body in ("binary", "not UTF-8")
]  # a CSV has no keys or aliases


@pytest.mark.parametrize(("kind", "body"), CASES)
def test_every_file_a_user_names_gets_one_message_and_nothing_is_written(tmp_path, kind, body):
    args, path = FILE_KINDS[kind](tmp_path, BODIES[body][0])
    result = invoke(*args)
    text = squash(result.output)
    assert result.exit_code == 2, result.output
    fragment, problem = BODIES[body][1], text.removeprefix(f"error:{path}")
    assert text.startswith(f"error:{path}"), result.output
    assert fragment.search(problem) if isinstance(fragment, re.Pattern) else fragment in problem, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_hostile_file_in_a_real_process_is_one_message_not_a_crash(tmp_path):
    """libyaml builds its tree recursively: nesting is refused before, so the process cannot crash."""
    args, path = _scenario(tmp_path, b"deep: " + b"[" * 200_000 + b"]" * 200_000 + b"\n")
    done = subprocess.run([PENSION_ABM, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {path}, line 3: ") and done.stderr.count("\n") == 1, done.stderr
    assert NESTING.search(done.stderr.removeprefix(f"error: {path}")) and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1_001, 100_000])
def test_nesting_too_deep_reads_the_same_whichever_check_meets_it(tmp_path, levels):
    """This module's checks, libyaml's own limit (1,000 levels) or the pre-scan of a long file: the
    user reads one wording."""
    path = tmp_path / "deep.yaml"
    path.write_text("d: " + "[" * levels + "]" * levels + "\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        read_yaml(path)
    assert str(info.value) == f"{path}, line 1: nested too deeply; at most {MAX_DEPTH} levels"


def test_a_set_value_is_read_with_the_same_limits(tmp_path):
    result = invoke("run", BASELINE, "--out", tmp_path / "out", "--set", "description=" + "[" * 80 + "]" * 80)
    assert result.exit_code == 2 and "--setdescription:nestedtoodeeply" in squash(result.output), result.output
    assert not (tmp_path / "out").exists()


# --- shipped files ------------------------------------------------------------------------------


def test_a_shipped_scenario_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shipped_file("troika") == SCENARIOS_DIR / "troika.yaml"
    assert load_scenario("baseline").source_file == BASELINE.resolve()
    assert shipped_file("policy_levers", SCENARIOS_DIR / "sweeps", "sweep").is_file()


def test_a_file_of_that_name_comes_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "baseline").write_text("name: mine\n", encoding="utf-8")
    assert shipped_file("baseline") == tmp_path.joinpath("baseline").relative_to(tmp_path)


def test_a_name_neither_a_file_nor_shipped_lists_the_shipped_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as caught:
        load_scenario("nowhere")
    message = str(caught.value)
    assert caught.value.file == "nowhere" and "not found" in message
    assert all(p.stem in message for p in SCENARIOS_DIR.glob("*.yaml")), message


@pytest.mark.parametrize("ref", ["elsewhere/baseline", "baseline.yml"])
def test_a_missing_path_is_not_taken_for_a_name(tmp_path, monkeypatch, ref):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as caught:
        load_scenario(ref)
    assert str(caught.value) == f"{ref}: file not found"


def test_the_shipped_files_live_in_the_package_and_the_checkout_links_to_them():
    assert PACKAGE == REPO_ROOT / "abm"
    assert (REPO_ROOT / "scenarios").resolve() == SCENARIOS_DIR
    for name in ("fitted", "survey", "targets.yaml"):
        assert (CALIBRATION / name).is_symlink() and (CALIBRATION / name).resolve() == PACKAGE / "calibration" / name
    assert checkout_calibration() == CALIBRATION


def test_a_long_plain_list_is_too_large_without_blaming_aliases(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("".join(f"- {i}\n" for i in range(300_000)), encoding="utf-8")
    with pytest.raises(UserError) as caught:
        read_yaml(path)
    assert str(caught.value) == f"{path}: too large: at most {MAX_NODES:,} values"


def test_an_alias_bomb_is_too_large_once_its_aliases_are_expanded(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(), encoding="utf-8")
    with pytest.raises(UserError, match=r"too large once its aliases \(\*name\) are expanded: at most 100,000 values"):
        read_yaml(path)


@pytest.mark.parametrize(
    ("path", "kind"), [("FOLDER", "a folder"), ("/dev/zero", "a character device")], ids=["folder", "device"]
)
def test_run_of_a_folder_or_a_device_says_what_it_is(tmp_path, path, kind):
    """Not "file not found": the path exists, and is not a file (a device is never read)."""
    path = tmp_path if path == "FOLDER" else Path(path)
    result = invoke("run", path, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert squash(result.output) == squash(f"error: {path}: is {kind}, not a file")


EXPONENTS = {"1e-1": 0.1, "1E5": 100_000.0, "2.5e3": 2_500.0, "-1e3": -1_000.0, ".5e2": 50.0, "1.0e+5": 100_000.0}


@pytest.mark.parametrize(("text", "value"), EXPONENTS.items())
def test_numbers_with_an_exponent_read_as_floats_as_yaml_1_2_has_them(text, value):
    """PyYAML (YAML 1.1) reads 1e-1 and 1E5 as strings; the project's loader reads floats."""
    data = parse_yaml(f"x: {text}\n")[0]
    assert data == {"x": value} and isinstance(data["x"], float)


def test_other_scalars_keep_their_type():
    assert parse_yaml("[12, 1_000, 1.5, 0x1F, 1e, e5, 1e5x, 2014-07, '1e5']")[0] == [
        12,
        1000,
        1.5,
        31,
        "1e",
        "e5",
        "1e5x",
        "2014-07",
        "1e5",
    ]


def test_a_coefficients_file_and_set_read_an_exponent_alike(tmp_path, baseline):
    """A coefficients file with 1e-1 loads (it was refused as a string) and equals --set's 1e-1."""
    default = (PACKAGE / "data" / "coefficients" / "default.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(default)
    term = next(iter(data["choice"]["value"]))
    data["choice"]["value"][term] = "EXPONENT"
    path = tmp_path / "coefficients.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False).replace("EXPONENT", "1e-1"), encoding="utf-8")
    assert load_coefficients(path).choice[term] == 0.1
    overridden = load_scenario(BASELINE, [f"behaviour.choice.{term}=1e-1"])
    assert overridden.behaviour.choice[term] == 0.1 and isinstance(overridden.behaviour.choice[term], float)


def test_strings_that_look_like_exponents_are_written_quoted_and_read_back(tmp_path, baseline):
    """A scenario named 1e5 (letters and digits) is saved beside its results and read back as that name."""
    named = baseline.model_copy(update={"name": "1e5", "description": "2.5E3"})
    path = tmp_path / "scenario.yaml"
    path.write_text(named.to_yaml(), encoding="utf-8")
    again = load_scenario(path)
    assert (again.name, again.description) == ("1e5", "2.5E3")
    assert parse_yaml(dump({"a": "1e-1", "b": 1e-1}))[0] == {"a": "1e-1", "b": 0.1}
