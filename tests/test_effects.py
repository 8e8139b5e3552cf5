"""Scenario effects: paired differences against the first scenario, and the mechanisms that moved."""

from __future__ import annotations

import pytest

from abm.analysis.effects import changes, measure, mechanism_sentence
from abm.sim.choice import MECHANISMS
from helpers import BASELINE

SIZE = {"year": 2026, "runs": 2, "residents": 500}
VALUED = [("behaviour.choice", {"basic_value": 2.0})]  # the fitted file weighs the basic pension at 0


@pytest.fixture(scope="module")
def basic_only(tmp_path_factory):
    """A higher basic pension from 2026 and nothing else, against the baseline, in 2026."""
    path = tmp_path_factory.mktemp("effects") / "basic.yaml"
    path.write_text(
        f"# a higher basic pension\nextends: {BASELINE}\nname: basic_only\npolicy:\n  basic_pension: {{2026: 400}}\n",
        encoding="utf-8",
    )
    return measure([BASELINE, path], overrides=VALUED, **SIZE)


def test_a_higher_basic_pension_moves_the_basic_mechanism_and_no_other(basic_only):
    """Up to the year's choice the paired runs are the same, and the basic pension's value is the
    same for every grade: so in its first year only the 'basic' mechanism moves, upwards."""
    frame = basic_only.mechanisms.set_index(["scenario", "run"])
    moved = frame.loc["basic_only"] - frame.loc["baseline"]
    assert (moved["basic"] > 0.01).all()
    for name in set(MECHANISMS) - {"basic"}:
        assert moved[name].abs().max() < 1e-9, name
    effects = basic_only.mechanism_effects("basic_only")
    assert effects.index[0] == "basic" and effects.loc["basic", "low"] > 0
    sentence = mechanism_sentence(basic_only, "basic_only")
    assert sentence.startswith("changes `policy.basic_pension`; ") and "the basic pension's value (+" in sentence


def test_differences_are_paired_runs_of_the_same_seeds(basic_only):
    assert list(basic_only.differences["scenario"].unique()) == ["baseline", "basic_only"]
    assert set(basic_only.differences["year"]) == {2026} and set(basic_only.differences["runs"]) == {2}
    mean, low, high = basic_only.difference("basic_only", "participation_rate")
    assert low <= mean <= high and mean > 0  # the pension's value pulls residents into paying
    assert basic_only.difference("baseline", "participation_rate") == (0.0, 0.0, 0.0)


def test_changes_name_the_fields_a_scenario_sets_otherwise(basic_only):
    base, scenario = basic_only.scenarios
    assert changes(base, scenario) == ["policy.basic_pension"]
    assert changes(base, base) == []


def test_the_sentence_says_when_no_mechanism_moved_or_only_noise_did(baseline):
    """Hand-made runs: one scenario whose mechanisms equal the baseline's, one whose only change is
    noise around 0 (its band holds 0)."""
    import pandas as pd

    from abm.analysis.effects import Effects

    same = baseline.model_copy(update={"name": "same"})
    noisy = baseline.model_copy(
        update={"name": "noisy", "policy": baseline.policy.model_copy(update={"publicity": {2011: 0.5, 2026: 0.6}})}
    )
    rows = [
        {
            "scenario": name,
            "run": run,
            **dict.fromkeys(MECHANISMS, 0.0),
            "peers": (-0.01, 0.002, 0.014)[run] if name == "noisy" else 0.0,
        }
        for name in ("baseline", "same", "noisy")
        for run in range(3)
    ]
    effects = Effects(2040, 3, 1000, [baseline, same, noisy], pd.DataFrame(), pd.DataFrame(rows))
    assert mechanism_sentence(effects, "same") == (
        "changes no policy field; the choice's mechanisms did not move in 2040 (the effect is the rules' own)"
    )
    assert mechanism_sentence(effects, "noisy") == (
        "changes `policy.publicity`; no mechanism's utility of paying moved beyond the runs' noise in 2040 "
        "(largest: neighbours' choices (+0.002 [-0.009, +0.013]))"
    )


def test_lever_effects_are_paired_window_means():
    """A lever that changes nothing the runs use gives exactly 0 with the same seeds; a higher
    local top-up with the basic pension's value weighed brings payers in."""
    from abm.analysis.effects import lever_effects

    levers = {
        "nothing": ["policy.financial_education.2026=0.0"],
        "top-up": ["policy.local_top_up.2014=100", "behaviour.choice.basic_value=40.0"],
    }
    frame = lever_effects(
        BASELINE, levers, (2014, 2016), runs=2, residents=2000, indicators=["participation_rate", "mean_contribution"]
    ).set_index(["lever", "indicator"])
    assert frame.loc[("nothing", "participation_rate"), "difference"] == 0
    assert frame.loc[("nothing", "mean_contribution"), ["low", "high"]].tolist() == [0, 0]
    assert frame.loc[("top-up", "participation_rate"), "low"] > 0
    assert 0 < frame.loc[("top-up", "participation_rate"), "reference"] < 1
