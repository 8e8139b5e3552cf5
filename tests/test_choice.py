"""Coefficients files: every choice coefficient and attitude rate is a finite number in its range,
or one message naming the file and the coefficient; and the utility each mechanism adds to paying."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.infra.errors import UserError
from abm.inputs.coefficients import CHOICE, DYNAMICS, SIGNS, TERMS, load_coefficients
from abm.sim.choice import (
    MECHANISMS,
    alternative_factors,
    backpay_probability,
    backpays,
    explain,
    mechanism_utilities,
    menu_place,
    menu_places,
    probabilities,
    resident_factors,
    sample,
    utilities,
    village_shares,
)
from helpers import DATA_DIR

DEFAULT = DATA_DIR / "coefficients" / "default.yaml"


def test_the_shipped_coefficients_are_within_their_ranges():
    for ref in ("default", "fitted"):
        coefficients = load_coefficients(ref)
        assert set(coefficients.choice) == set(CHOICE) and set(coefficients.dynamics) == set(DYNAMICS)
        assert all(-1000 <= v <= 1000 for v in coefficients.choice.values())
        assert all(0 <= v <= 1 for v in coefficients.dynamics.values())


@pytest.mark.parametrize(
    ("section", "name", "value", "fragment"),
    [
        ("choice", "pay", math.inf, "finite number"),
        ("choice", "inertia", math.nan, "finite number"),
        ("choice", "affordability", -10_000.0, "greater than or equal to -1000"),
        ("choice", "lowest", "high", "valid number"),
        ("choice", "highest", True, "valid number"),
        ("dynamics", "trust_decay", 1.5, "less than or equal to 1"),
        ("dynamics", "awareness_peers", -0.1, "greater than or equal to 0"),
        ("dynamics", "awareness_publicity", math.inf, "finite number"),
    ],
)
def test_a_coefficient_out_of_range_names_the_file_and_coefficient(tmp_path, section, name, value, fragment):
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data[section]["value"][name] = value
    path = tmp_path / "coefficients.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_coefficients(path)
    assert info.value.file == str(path) and info.value.field == f"{section}.{name}", str(info.value)
    assert fragment in info.value.message and str(info.value).count("(got") == 1, str(info.value)


# --- mechanisms of paying ------------------------------------------------------------------------


def _one_resident(last_choice: float = 0.0, peers=(0.5, 0.25, 0.25)) -> tuple[dict, dict]:
    """One resident choosing among not paying and grades 100 and 200 (subsidies 30 and 60)."""
    alternatives = alternative_factors(np.array([100.0, 200.0]), np.array([30.0, 60.0]))
    residents = resident_factors(
        {
            "age": np.array([45]),
            "income": np.array([10_000.0]),
            "awareness": np.array([0.5]),
            "trust": np.array([0.5]),
            "reliance": np.array([0.0]),
            "good_health": np.array([1.0]),
            "last_choice": np.array([last_choice]),
            "peer_share": np.array([peers]),
        },
        10_000.0,
        alternatives["value"],
    )
    return residents, alternatives


def test_mechanism_utilities_by_hand():
    """pay 0.5, subsidy 1 (per 100 yuan), inertia 1 on not paying last year, peers 2 on shares .5/.25/.25:
    utilities 2.0 (not paying), 1.3 and 1.6; given paying the grades' probabilities are the logit of
    1.3 and 1.6."""
    beta = dict.fromkeys(TERMS, 0.0) | {"pay": 0.5, "subsidy": 1.0, "inertia": 1.0, "peer_share": 2.0}
    residents, alternatives = _one_resident()
    got = mechanism_utilities(beta, residents, alternatives)
    q200 = math.exp(0.3) / (1 + math.exp(0.3))
    expected = dict.fromkeys(MECHANISMS, 0.0) | {
        "paying": 0.5,
        "subsidy": 0.3 * (1 - q200) + 0.6 * q200,
        "habit": -1.0,
        "peers": 2 * 0.25 - 2 * 0.5,
    }
    assert set(got) == set(MECHANISMS)
    for name, value in expected.items():
        assert got[name] == pytest.approx([value], abs=1e-12), name


def test_mechanism_utilities_agree_with_explain_and_are_computed_row_by_row():
    """Each resident's mechanisms are explain's, weighted by the grades' probabilities given paying,
    less those of not paying; stacking residents changes no row."""
    rng = np.random.default_rng(3)
    beta = {name: float(rng.normal()) for name in TERMS}
    rows = [
        _one_resident(last_choice, peers)
        for last_choice, peers in ((0.0, (0.6, 0.3, 0.1)), (100.0, (0.2, 0.5, 0.3)), (200.0, (0.1, 0.1, 0.8)))
    ]
    alternatives = rows[0][1]
    stacked = {name: np.concatenate([r[name] for r, _ in rows]) for name in rows[0][0]}
    together = mechanism_utilities(beta, stacked, alternatives)
    for index, (residents, _) in enumerate(rows):
        explained = explain(beta, residents, alternatives)
        p = np.array([a["probability"] for a in explained])
        for name in MECHANISMS:
            m = np.array([a["mechanisms"][name] for a in explained])
            by_hand = (p[1:] @ m[1:]) / p[1:].sum() - m[0]
            assert mechanism_utilities(beta, residents, alternatives)[name] == pytest.approx([by_hand], abs=1e-12)
            assert together[name][index] == pytest.approx(by_hand, abs=1e-12)


# --- back-paying ---------------------------------------------------------------------------------

BACKPAY_BETA = {
    "pay": -1.0,
    "backpay": 0.0,
    "affordability": -3.0,
    "basic_value": 0.2,
    "account_value": 0.5,
    "account_value_x_awareness": 0.0,
}


def test_backpay_probability_by_hand():
    """logit(p) = pay + basic_value x basic worth + (account_value x account worth + affordability /
    income) x lump sum."""
    p = backpay_probability(BACKPAY_BETA, np.array([2.0]), np.array([1e-4]), np.array([1400.0]), np.array([7000.0]))
    utility = -1.0 + 0.2 * 2.0 + 0.5 * 1e-4 * 1400 - 3.0 * 1400 / 7000
    assert p[0] == pytest.approx(1 / (1 + math.exp(-utility)), rel=1e-12)


def test_nobody_backpays_without_benefit_terms_and_a_very_negative_constant():
    beta = BACKPAY_BETA | {"pay": -100.0, "basic_value": 0.0, "account_value": 0.0}
    n = 1000
    drawn = backpays(
        beta, np.full(n, 5.0), np.full(n, 1e-4), np.full(n, 1400.0), np.full(n, 7000.0), np.random.default_rng(1)
    )
    assert not drawn.any()


def test_nearly_everybody_backpays_when_the_pension_dwarfs_the_cost():
    n = 1000
    drawn = backpays(
        BACKPAY_BETA | {"basic_value": 5.0},
        np.full(n, 5.0),
        np.full(n, 1e-4),
        np.full(n, 1400.0),
        np.full(n, 7000.0),
        np.random.default_rng(1),
    )
    assert drawn.mean() > 0.99


def test_backpay_probability_rises_with_the_pension_and_falls_with_the_lump_sum_and_lower_income():
    def p(basic=2.0, lump=1400.0, income=7000.0):
        return backpay_probability(
            BACKPAY_BETA, np.array([basic]), np.array([1e-4]), np.array([lump]), np.array([income])
        )[0]

    assert p(basic=3.0) > p() > p(basic=1.0)
    assert p(lump=2800.0) < p() < p(lump=700.0)
    assert p(income=4000.0) < p() < p(income=20_000.0)


def test_backpay_draws_are_reproducible_and_none_for_nobody():
    """Same generator state, same draws; nobody deciding consumes no random number."""
    args = (np.linspace(0, 10, 200), np.full(200, 1e-4), np.full(200, 1400.0), np.full(200, 7000.0))
    first = backpays(BACKPAY_BETA, *args, np.random.default_rng(7))
    np.testing.assert_array_equal(first, backpays(BACKPAY_BETA, *args, np.random.default_rng(7)))
    assert 0 < first.mean() < 1
    rng = np.random.default_rng(7)
    assert backpays(BACKPAY_BETA, *(a[:0] for a in args), rng).size == 0
    assert rng.random() == np.random.default_rng(7).random()


def test_awareness_of_the_rules_adds_to_the_back_payment_account_value():
    beta = BACKPAY_BETA | {"account_value_x_awareness": 2.0}
    args = (np.array([2.0]), np.array([1e-4]), np.array([1400.0]), np.array([7000.0]))
    aware = backpay_probability(beta, *args, awareness=np.array([1.0]))[0]
    assert aware > backpay_probability(beta, *args, awareness=np.array([0.0]))[0]
    assert backpay_probability(beta, *args, awareness=np.array([0.0]))[0] == backpay_probability(BACKPAY_BETA, *args)[0]


# --- the menu: habit and peers follow a grade's place, not an identical yuan amount ----------------


def test_menu_place_keeps_offered_grades_and_maps_the_others_to_the_nearest_in_ratio():
    values = np.array([0.0, 101.0, 201.0, 301.0, 1001.0, 2001.0])
    last = np.array([-1.0, 0.0, 100.0, 200.0, 300.0, 1000.0, 2000.0, 150.0, 5000.0, 50.0])
    # 150 is nearer 201 than 101 in ratio (log 150/101 = 0.40 > log 201/150 = 0.29)
    np.testing.assert_array_equal(menu_place(last, values), [-1, 0, 1, 2, 3, 4, 5, 2, 5, 1])
    np.testing.assert_array_equal(menu_place(np.array([100.0, 200.0]), np.array([0.0, 100.0, 200.0])), [1, 2])


def test_renamed_grades_keep_habit_and_village_shares():
    """Every grade renamed +1 yuan: inertia stays on the same place in the list and the village shares
    are the same as with the old list."""
    old, new = np.array([0.0, 100.0, 200.0, 300.0]), np.array([0.0, 101.0, 201.0, 301.0])
    last = np.array([0.0, 100.0, 200.0, 300.0, 200.0, -1.0])
    village = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(
        village_shares(village, menu_places(last, new), new.size, 2),
        village_shares(village, menu_places(last, old), old.size, 2),
    )
    rows = {
        "age": np.full(6, 40),
        "income": np.full(6, 10_000.0),
        "awareness": np.full(6, 0.5),
        "trust": np.full(6, 0.5),
        "reliance": np.zeros(6),
        "good_health": np.ones(6),
        "last_choice": last,
        "peer_share": np.zeros((6, 4)),
    }
    np.testing.assert_array_equal(
        resident_factors(rows, 10_000.0, new)["inertia"], resident_factors(rows, 10_000.0, old)["inertia"]
    )


def test_liquidity_multiplies_the_cost_per_yuan_of_income():
    rows = {
        "age": np.array([40, 40]),
        "income": np.array([8_000.0, 8_000.0]),
        "awareness": np.zeros(2),
        "trust": np.zeros(2),
        "reliance": np.zeros(2),
        "good_health": np.zeros(2),
        "liquidity": np.array([1.0, 2.0]),
    }
    base = resident_factors(rows, 8_000.0)
    assert base["inverse_income"] == pytest.approx([1 / 8_000, 2 / 8_000])


def test_signs_the_economics_fixes_are_refused_in_a_coefficients_file(tmp_path):
    for name, value in (("subsidy", -0.4), ("account_value", -8.8), ("affordability", 3.0), ("inertia", -1.0)):
        data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
        data["choice"]["value"][name] = value
        path = tmp_path / "coefficients.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        with pytest.raises(UserError) as info:
            load_coefficients(path)
        assert info.value.field == f"choice.{name}" and "the economics fixes this sign" in info.value.message


# --- directions the evidence gives, as properties of the choice itself -----------------------------


def _paying(beta, residents, alternatives) -> np.ndarray:
    return 1 - probabilities(utilities(beta, residents, alternatives))[:, 0]


SIGNED = {name: (st.floats(-60, 0) if sign == "<= 0" else st.floats(0, 60)) for name, sign in SIGNS.items()}
FREE = {name: st.floats(-3, 3) for name in TERMS if name not in SIGNS}


MEAN_INCOME = 12_000.0  # yuan/year


@st.composite
def choice_cases(draw):
    """Coefficients with the signs the economics fixes (any size), a menu, and a few residents' inputs
    to resident_factors (without the menu)."""
    beta = {name: draw(strategy) for name, strategy in (SIGNED | FREE).items()}
    grades = np.array(sorted(draw(st.sets(st.integers(1, 40), min_size=1, max_size=8)))) * 100.0
    subsidies = np.array(draw(st.lists(st.floats(0, 200), min_size=grades.size, max_size=grades.size)))
    n = draw(st.integers(1, 5))

    def column(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)))

    inputs = {
        "age": column(st.integers(16, 70)),
        "income": column(st.floats(2_000, 80_000)),
        "awareness": column(st.floats(0, 1)),
        "trust": column(st.floats(0, 1)),
        "reliance": np.zeros(n),
        "good_health": np.ones(n),
        "last_choice": column(st.sampled_from([-1.0, 0.0, *grades])),
        "peer_share": np.full((n, grades.size + 1), 1 / (grades.size + 1)),
        "basic_worth": column(st.floats(0, 5)),
        "account_worth": column(st.floats(0, 1e-3)),
    }
    return beta, grades, subsidies, inputs


def _residents(inputs: dict, grades: np.ndarray, **changed) -> dict:
    return resident_factors(inputs | changed, MEAN_INCOME, np.concatenate([[0.0], grades]))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(choice_cases(), st.floats(0.5, 300))
def test_more_subsidy_on_any_grade_never_means_fewer_payers(case, rise):
    beta, grades, subsidies, inputs = case
    residents = _residents(inputs, grades)
    before = _paying(beta, residents, alternative_factors(grades, subsidies))
    after = _paying(beta, residents, alternative_factors(grades, subsidies + rise))
    assert np.all(after >= before - 1e-12)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(choice_cases(), st.floats(1.0, 3.0))
def test_more_basic_pension_or_account_value_never_means_fewer_payers(case, factor):
    beta, grades, subsidies, inputs = case
    alternatives = alternative_factors(grades, subsidies)
    before = _paying(beta, _residents(inputs, grades), alternatives)
    for name in ("basic_worth", "account_worth"):
        richer = _residents(inputs, grades, **{name: inputs[name] * factor})
        assert np.all(_paying(beta, richer, alternatives) >= before - 1e-12), name


@settings(max_examples=150, deadline=None, derandomize=True)
@given(choice_cases())
def test_renaming_every_grade_by_one_yuan_changes_almost_nothing(case):
    """The menu renamed +1 yuan (last year's choices read against the new list): the chance of paying
    moves by less than a point, through the yuan itself only (its cost and what it buys: at most 1% of
    a grade's cost, 0.03 units of utility at the poorest income drawn)."""
    beta, grades, subsidies, inputs = case
    before = _paying(beta, _residents(inputs, grades), alternative_factors(grades, subsidies))
    after = _paying(beta, _residents(inputs, grades + 1), alternative_factors(grades + 1, subsidies))
    assert np.all(np.abs(after - before) < 0.01)


def test_a_years_draw_is_the_reference_logit_drawn_with_the_same_numbers(small_scenario, monkeypatch):
    """ChoiceSituation.draw (alternatives x residents, block by block) gives exactly the choices of the
    reference path: every chooser's factors, :func:`utilities` and :func:`sample` with the same draws,
    across several blocks and outer blocks (sizes made small here)."""
    from abm.sim import choice
    from abm.sim.model import PensionModel

    monkeypatch.setattr(choice, "CHUNK", 96)
    monkeypatch.setattr(choice, "VECTOR_CHUNK", 3 * 96)
    model = PensionModel(scenario=small_scenario)
    for _ in range(3):  # last year's choices and the villages' shares in place
        model.step()
    situation = model.choice_situation(model.open_year())
    assert situation.choosers.size > 10 * 96
    first, second = (np.random.default_rng(5) for _ in range(2))
    drawn = situation.draw(first)
    values = situation.alternatives["value"]
    reference = values[
        sample(utilities(situation.beta, situation.factors(situation.choosers), situation.alternatives), second)
    ]
    np.testing.assert_array_equal(drawn, reference)
    assert len(set(drawn)) > 2  # several grades drawn, not only "not paying"
    assert first.random() == second.random()  # as many numbers drawn
