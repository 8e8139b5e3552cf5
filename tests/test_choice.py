"""Coefficients files: every choice coefficient and attitude rate is a finite number in its range,
or one message naming the file and the coefficient."""

from __future__ import annotations

import math

import pytest
import yaml

from abm.choice import DYNAMICS, TERMS, load_coefficients
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
