"""Survey files: validated against the codebook, then turned into the choice model's factors."""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from abm.infra.errors import UserError
from abm.inputs.coefficients import load_coefficients
from abm.inputs.county import load_county
from abm.inputs.datafiles import CALIBRATION_DIR, read_text, read_yaml
from abm.inputs.dated import value_at
from abm.inputs.scenario import Scenario
from abm.sim.choice import alternative_factors, resident_factors
from abm.sim.demography import LifeTable
from abm.sim.economy import Economy
from abm.sim.perceived_worth import Expectations, perceived_worth, value_tables
from abm.sim.policy import policy_for_year

CODEBOOK = CALIBRATION_DIR / "survey" / "codebook.yaml"
STANDIN = CALIBRATION_DIR / "survey" / "qi_county_standin.csv"
INTEGER = re.compile(r"^[+-]?\d+$")


def load_codebook(path: Path = CODEBOOK) -> dict[str, dict]:
    columns = (read_yaml(path) or {}).get("columns")
    if not isinstance(columns, dict) or not columns:
        raise UserError("expected 'columns:' with one entry per survey column", file=path)
    return columns


def read_survey(path: str | Path, codebook: Path = CODEBOOK) -> pd.DataFrame:
    """Read a survey CSV and check every value against the codebook; typed columns out."""
    path, spec = Path(path), load_codebook(codebook)
    text = read_text(path)  # a missing, binary or non-UTF-8 file is one message
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, comment="#", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"not a readable CSV file ({str(err).strip()})", file=path) from None
    missing = [name for name in spec if name not in raw.columns]
    if missing:
        raise UserError(
            f"missing column(s) {', '.join(missing)}; the codebook ({codebook.name}) requires: {', '.join(spec)}",
            file=path,
            field=missing[0],
        )
    if raw.empty:
        raise UserError("no respondents: the file has the header but no rows", file=path)
    survey = pd.DataFrame({name: _column(raw[name], name, rules, path) for name, rules in spec.items()})
    _check_consistency(survey, path)
    return survey


def _where(path: Path | None, row: int, column: str) -> dict:
    """UserError arguments naming data row ``row`` (0-based) and its line in the file, if any."""
    if path is None:  # a survey made in memory
        return {"field": f"row {row + 1}, column {column}"}
    return {"file": path, "field": f"row {row + 1} (line {_file_line(path, row)}), column {column}"}


def _file_line(path: Path, row: int) -> int:
    """The line of data row ``row`` in the file: like pandas, skip blank lines, lines starting with
    '#' (comments) and the header."""
    with path.open(encoding="utf-8") as lines:
        counted = (n for n, text in enumerate(lines, start=1) if text.strip() and not text.startswith("#"))
        return next(itertools.islice(counted, row + 1, None))


def _column(values: pd.Series, name: str, rules: dict, path: Path) -> pd.Series:
    kind, allowed, bounds = rules["type"], rules.get("allowed"), rules.get("range")
    empty = values.str.strip() == ""
    if empty.any() and not rules.get("optional"):
        raise UserError("empty value; this column is required", **_where(path, int(np.argmax(empty)), name))
    if kind == "category":
        bad = ~empty & ~values.isin([str(a) for a in allowed])
        if bad.any():
            row = int(np.argmax(bad))
            raise UserError(
                f"value {values.iloc[row]!r} is not allowed; allowed: {', '.join(map(str, allowed))}",
                **_where(path, row, name),
            )
        return values.where(~empty, None)
    pattern_ok = values.str.match(INTEGER) if kind == "integer" else pd.to_numeric(values, errors="coerce").notna()
    bad = ~empty & ~pattern_ok
    if bad.any():
        row = int(np.argmax(bad))
        raise UserError(
            f"value {values.iloc[row]!r} is not {'an integer' if kind == 'integer' else 'a number'}",
            **_where(path, row, name),
        )
    numbers = pd.to_numeric(values.where(~empty), errors="coerce")
    if bounds is not None:
        bad = ~empty & ~numbers.between(*bounds)
        if bad.any():
            row = int(np.argmax(bad))
            raise UserError(
                f"value {values.iloc[row]} is out of range; allowed: {bounds[0]} to {bounds[1]}",
                **_where(path, row, name),
            )
    if allowed is not None:
        bad = ~empty & ~numbers.isin(allowed)
        if bad.any():
            row = int(np.argmax(bad))
            raise UserError(
                f"unknown value {values.iloc[row]}; allowed: {', '.join(map(str, allowed))}", **_where(path, row, name)
            )
    return numbers.astype("Int64") if kind == "integer" else numbers


def _check_consistency(survey: pd.DataFrame, path: Path) -> None:
    enrolled, graded = survey["enrolled"] == "yes", survey["grade"].notna()
    for bad, message, column in (
        (enrolled & ~graded, "enrolled respondents need the grade they paid", "grade"),
        (~enrolled & graded, "a grade is given but enrolled is 'no'", "grade"),
        (survey["respondent"].duplicated(), "respondent number repeated", "respondent"),
        (
            survey["years_contributed"] > survey["age"] - 16,
            "more years contributed than years since 16",
            "years_contributed",
        ),
    ):
        if bad.any():
            raise UserError(message, **_where(path, int(np.argmax(bad)), column))


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def choice_situations(
    survey: pd.DataFrame, scenario: Scenario, path: str | Path | None = None, valuation: dict[str, float] | None = None
) -> list[dict]:
    """Per survey year: the resident and alternative factors and the chosen alternative index.

    The policy (grades, subsidies, basic pension), the county's life table and mean income of the
    survey year come from the scenario, as in the simulation; what paying buys each respondent
    (abm/sim/perceived_worth.py) from their age, sex, years contributed before the survey year, income, trust and
    answer to the compound-interest question, valued with ``valuation`` (discount_rate,
    pivot_horizon, compounding_gap; default: the priors). Years before the scheme and grades not
    offered that year are errors, naming the row of the survey file ``path`` if given.
    """
    path = Path(path) if path is not None else None
    launch = scenario.policy.launch_year
    early = (survey["survey_year"] < launch).to_numpy(dtype=bool)
    if early.any():
        row = int(np.argmax(early))
        raise UserError(
            f"survey year {survey['survey_year'].iloc[row]} is before the scheme starts; allowed: {launch} or later",
            **_where(path, row, "survey_year"),
        )
    valuation = load_coefficients("default").valuation if valuation is None else valuation
    county = load_county(scenario)
    life = LifeTable.for_county(county)
    years = sorted(int(y) for y in survey["survey_year"].unique())
    economy = Economy(county.rural_income, scenario.economy, min(years) - 1, max(years) + 1)
    situations = []
    for year in years:
        positions = np.flatnonzero((survey["survey_year"] == year).to_numpy(dtype=bool))
        rows = survey.iloc[positions]
        policy = policy_for_year(scenario.policy, year, value_at(scenario.policy.basic_pension, year))
        alternatives = alternative_factors(policy.grades, policy.subsidies)
        paid = rows["grade"].fillna(0).to_numpy(dtype=float)
        offered = np.isin(paid, alternatives["value"])
        if not offered.all():
            first = int(np.argmax(~offered))
            raise UserError(
                f"grade {paid[first]:.0f} was not offered in {year}; offered: "
                f"{', '.join(str(int(g)) for g in policy.grades)}",
                **_where(path, int(positions[first]), "grade"),
            )
        chosen = np.searchsorted(alternatives["value"], paid)
        n = len(rows)
        expectations = Expectations.from_indexation(
            valuation["discount_rate"],
            scenario.policy.basic_pension_indexation,
            economy.income_growth(year),
            economy.inflation(year),
        )
        trust = likert_share(rows["trust"])
        basic_worth, account_worth = perceived_worth(
            value_tables(life, policy, expectations),
            policy,
            rows["age"].to_numpy(dtype=int),
            (rows["sex"] == "male").to_numpy(dtype=int),
            rows["years_contributed"].to_numpy(dtype=int),
            rows["income"].to_numpy(dtype=float),
            trust,
            (rows["compound_interest"] == "yes").to_numpy(),
            valuation["pivot_horizon"],
            valuation["compounding_gap"],
        )
        residents = resident_factors(
            {
                "age": rows["age"].to_numpy(dtype=float),
                "income": rows["income"].to_numpy(dtype=float),
                "awareness": likert_share(rows["knowledge"]),
                "trust": trust,
                "reliance": (rows["reliance_on_children"] == "yes").to_numpy(),
                "good_health": (rows["health"] == "good").to_numpy(),
                "last_choice": np.full(n, -1.0),
                "peer_share": np.zeros((n, alternatives["value"].size)),
                "basic_worth": basic_worth,
                "account_worth": account_worth,
            },
            economy.mean_income(year),
            alternatives["value"],
        )
        situations.append({"year": year, "residents": residents, "alternatives": alternatives, "chosen": chosen})
    return situations


def likert_share(scores: pd.Series) -> np.ndarray:
    """A 1-5 score as the model's 0-1 scale."""
    return (scores.to_numpy(dtype=float) - 1) / 4
