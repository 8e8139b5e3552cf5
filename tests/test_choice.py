"""Coefficients files: every choice coefficient and attitude rate is a finite number in its range,
or one message naming the file and the coefficient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from abm.choice import DYNAMICS, TERMS, backpay_probability, backpays, load_coefficients
from abm.errors import UserError
from helpers import DATA_DIR

DEFAULT = DATA_DIR / "coefficients" / "default.yaml"


def test_the_shipped_coefficients_are_within_their_ranges():
    for ref in ("default", "fitted"):
        coefficients = load_coefficients(ref)
        assert set(coefficients.choice) == set(TERMS) and set(coefficients.dynamics) == set(DYNAMICS)
        assert all(-100 <= v <= 100 for v in coefficients.choice.values())
        assert all(0 <= v <= 1 for v in coefficients.dynamics.values())


@pytest.mark.parametrize(("section", "name", "value", "fragment"), [
    ("choice", "pay", math.inf, "finite number"),
    ("choice", "inertia", math.nan, "finite number"),
    ("choice", "affordability", -1000.0, "greater than or equal to -100"),
    ("choice", "lowest", "high", "valid number"),
    ("choice", "highest", True, "valid number"),
    ("dynamics", "trust_decay", 1.5, "less than or equal to 1"),
    ("dynamics", "awareness_peers", -0.1, "greater than or equal to 0"),
    ("dynamics", "awareness_publicity", math.inf, "finite number"),
])
def test_a_coefficient_out_of_range_names_the_file_and_coefficient(tmp_path, section, name, value, fragment):
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data[section]["value"][name] = value
    path = tmp_path / "coefficients.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_coefficients(path)
    assert info.value.file == str(path) and info.value.field == f"{section}.{name}", str(info.value)
    assert fragment in info.value.message and str(info.value).count("(got") == 1, str(info.value)


BACKPAY_BETA = {"pay": -1.0, "affordability": -3.0, "basic_value": 0.2, "account_value": 0.5}


def test_backpay_probability_by_hand():
    """logit(p) = pay + basic_value x basic worth + (account_value x account worth + affordability /
    income) x lump sum."""
    p = backpay_probability(BACKPAY_BETA, np.array([2.0]), np.array([1e-4]), np.array([1400.0]), np.array([7000.0]))
    utility = -1.0 + 0.2 * 2.0 + 0.5 * 1e-4 * 1400 - 3.0 * 1400 / 7000
    assert p[0] == pytest.approx(1 / (1 + math.exp(-utility)), rel=1e-12)


def test_nobody_backpays_without_benefit_terms_and_a_very_negative_constant():
    beta = BACKPAY_BETA | {"pay": -100.0, "basic_value": 0.0, "account_value": 0.0}
    n = 1000
    drawn = backpays(beta, np.full(n, 5.0), np.full(n, 1e-4), np.full(n, 1400.0), np.full(n, 7000.0),
                     np.random.default_rng(1))
    assert not drawn.any()


def test_nearly_everybody_backpays_when_the_pension_dwarfs_the_cost():
    n = 1000
    drawn = backpays(BACKPAY_BETA | {"basic_value": 5.0}, np.full(n, 5.0), np.full(n, 1e-4),
                     np.full(n, 1400.0), np.full(n, 7000.0), np.random.default_rng(1))
    assert drawn.mean() > 0.99


def test_backpay_probability_rises_with_the_pension_and_falls_with_the_lump_sum_and_lower_income():
    def p(basic=2.0, lump=1400.0, income=7000.0):
        return backpay_probability(BACKPAY_BETA, np.array([basic]), np.array([1e-4]), np.array([lump]),
                                   np.array([income]))[0]
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
