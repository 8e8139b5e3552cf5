"""Packaged data files: shipped scenarios found by name, the calibration folder of a checkout."""

from __future__ import annotations

import pytest

from abm.datafiles import PACKAGE, SCENARIOS_DIR, checkout_calibration, shipped_file
from abm.errors import UserError
from abm.scenario import load_scenario
from helpers import BASELINE, CALIBRATION, REPO_ROOT


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
