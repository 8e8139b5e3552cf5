"""Survey files: every value is checked against the codebook; a bad file stops with one message
naming the file, the row (and line) and the column, and nothing is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from abm.analysis.fitting import standin
from abm.analysis.fitting.survey import read_survey
from abm.infra.errors import UserError
from helpers import CODEBOOK_FILE, STANDIN_FILE, invoke, squash

PENSION_ABM = Path(sys.executable).parent / "pension-abm"


@pytest.fixture(scope="module")
def codebook() -> dict:
    """The codebook's columns, read here with plain YAML."""
    return yaml.safe_load(CODEBOOK_FILE.read_text(encoding="utf-8"))["columns"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The first 20 respondents of the shipped stand-in, as text."""
    return pd.read_csv(STANDIN_FILE, dtype=str, keep_default_na=False, comment="#").head(20)


def write_csv(folder: Path, frame: pd.DataFrame, name: str = "survey.csv", header: str = "") -> Path:
    path = folder / name
    path.write_text(header + frame.to_csv(index=False), encoding="utf-8")
    return path


def payer(frame: pd.DataFrame, after: int = 0) -> int:
    """Position of the first enrolled respondent at or after ``after``."""
    return next(i for i in range(after, len(frame)) if frame.at[i, "enrolled"] == "yes")


def allowed_list(values) -> list[str]:
    return [str(v) for v in values]


# Each case breaks one value of a clean file: (broken frame, row position, column, message fragments).
def _text_in_age(f, cb):
    f.loc[2, "age"] = "forty"
    return f, 2, "age", ["'forty'", "integer"]


def _decimal_knowledge(f, cb):
    f.loc[7, "knowledge"] = "2.5"
    return f, 7, "knowledge", ["'2.5'", "integer"]


def _age_12(f, cb):
    f.loc[4, "age"] = "12"
    return f, 4, "age", ["12", "range", *allowed_list(cb["age"]["range"])]


def _knowledge_7(f, cb):
    f.loc[11, "knowledge"] = "7"
    return f, 11, "knowledge", ["7", "range", *allowed_list(cb["knowledge"]["range"])]


def _sex_x(f, cb):
    f.loc[5, "sex"] = "x"
    return f, 5, "sex", ["'x'", *cb["sex"]["allowed"]]


def _grade_250(f, cb):
    row = payer(f, 3)
    f.loc[row, "grade"] = "250"
    return f, row, "grade", ["250", *allowed_list(cb["grade"]["allowed"])]


def _enrolled_without_grade(f, cb):
    row = payer(f, 6)
    f.loc[row, "grade"] = ""
    return f, row, "grade", ["enrolled"]


def _grade_not_enrolled(f, cb):
    row = payer(f, 9)
    f.loc[row, "enrolled"] = "no"
    return f, row, "grade", ["enrolled", "no"]


def _empty_income(f, cb):
    f.loc[8, "income"] = ""
    return f, 8, "income", ["empty", "required"]


def _repeated_respondent(f, cb):
    f.loc[13, "respondent"] = f.at[3, "respondent"]
    return f, 13, "respondent", ["repeated"]


BROKEN = {
    "text in age": _text_in_age,
    "decimal knowledge": _decimal_knowledge,
    "age 12": _age_12,
    "knowledge 7": _knowledge_7,
    "sex x": _sex_x,
    "unknown grade": _grade_250,
    "enrolled without grade": _enrolled_without_grade,
    "grade but not enrolled": _grade_not_enrolled,
    "empty required value": _empty_income,
    "repeated respondent": _repeated_respondent,
}


def test_the_clean_excerpt_reads(tmp_path, rows):
    """The 20-row excerpt the other cases break is itself valid (so each error comes from the break)."""
    survey = read_survey(write_csv(tmp_path, rows))
    assert len(survey) == 20 and list(survey["respondent"]) == list(range(1, 21))


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_value_names_file_row_line_and_column(tmp_path, rows, codebook, case):
    """One bad value: a UserError naming the file, the row, its line in the file and the column,
    and what is allowed where the codebook says it."""
    frame, row, column, fragments = BROKEN[case](rows.copy(), codebook)
    path = write_csv(tmp_path, frame)
    with pytest.raises(UserError) as caught:
        read_survey(path)
    err, text = caught.value, str(caught.value)
    assert err.file == str(path)
    assert err.field is not None and column in err.field
    # the header is line 1, so the row at position p (0-based) is data row p + 1 on line p + 2
    assert re.search(rf"\brow {row + 1}\b", text), text
    assert re.search(rf"\bline {row + 2}\b", text), text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_missing_column_names_it_and_the_required_columns(tmp_path, rows, codebook):
    """A file without the 'trust' column: the error names the file and the column, and lists the codebook's."""
    path = write_csv(tmp_path, rows.drop(columns=["trust"]))
    with pytest.raises(UserError) as caught:
        read_survey(path)
    assert caught.value.file == str(path) and caught.value.field == "trust"
    for name in codebook:
        assert name in str(caught.value)


def test_missing_file_is_a_user_error(tmp_path):
    """A survey file that does not exist: a UserError naming it, not an OSError."""
    path = tmp_path / "nowhere.csv"
    with pytest.raises(UserError) as caught:
        read_survey(path)
    assert caught.value.file == str(path) and "not found" in str(caught.value)


def test_extra_columns_are_ignored(tmp_path, rows):
    """Columns the codebook does not define are allowed and dropped (calibration/survey/README.md)."""
    survey = read_survey(write_csv(tmp_path, rows.assign(interviewer="A")))
    assert "interviewer" not in survey.columns and len(survey) == len(rows)


def test_line_number_counts_a_comment_header(tmp_path, rows):
    """In a file that starts with a '#' comment line, as the stand-in does, the reported line is the real one."""
    frame = rows.copy()
    frame.loc[4, "age"] = "12"
    path = write_csv(tmp_path, frame, header="# a note on the survey\n")
    lines = path.read_text(encoding="utf-8").splitlines()
    real_line = next(n for n, line in enumerate(lines, start=1) if line.startswith(f"{frame.at[4, 'respondent']},"))
    with pytest.raises(UserError) as caught:
        read_survey(path)
    assert f"line {real_line}" in str(caught.value), (real_line, str(caught.value))


def test_cli_grade_not_offered_that_year_names_file_and_row(tmp_path, rows):
    """A 2012 survey with grade 1000 (offered only from 2014): exit 2 naming the file, the row and the column
    (calibration/survey/README.md: an unknown grade names the file, the row and the column)."""
    frame = rows.assign(survey_year="2012")
    row = payer(frame, 5)
    frame.loc[row, "grade"] = "1000"
    path = write_csv(tmp_path, frame)
    read_survey(path)  # the codebook allows 1000: the check is against the year's policy
    result = invoke("calibrate", "survey", path, "--out", tmp_path / "cal")
    assert result.exit_code == 2 and not (tmp_path / "cal").exists()
    text = squash(result.output)
    assert "notofferedin2012" in text  # the check itself works; what is missing is where
    assert squash(str(path)) in text and f"row{row + 1}" in text, result.output


# --- through the command line -------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing column", *BROKEN])
def test_cli_bad_survey_exits_2_with_one_message_and_writes_nothing(tmp_path, rows, codebook, case):
    """calibrate survey BAD.csv: exit code 2, one error naming the file and the column, no traceback,
    no --out folder."""
    if case == "missing column":
        frame, column = rows.drop(columns=["trust"]), "trust"
    else:
        frame, _, column, _ = BROKEN[case](rows.copy(), codebook)
    path = write_csv(tmp_path, frame, name="bad_survey.csv")
    out = tmp_path / "cal"
    result = invoke("calibrate", "survey", path, "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = squash(result.output)
    assert squash(str(path)) in text and column in text
    assert len(re.findall(r"error", text.replace(squash(str(tmp_path)), ""), flags=re.IGNORECASE)) == 1
    assert not out.exists()


@pytest.mark.slow
def test_cli_bad_survey_in_a_real_process_is_one_line(tmp_path, rows):
    """The installed script on a survey with age 12: exit 2, exactly one line on stderr, nothing written."""
    frame = rows.copy()
    frame.loc[4, "age"] = "12"
    path = write_csv(tmp_path, frame, name="bad_survey.csv")
    proc = subprocess.run(
        [str(PENSION_ABM), "calibrate", "survey", str(path), "--out", str(tmp_path / "cal")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, COLUMNS="400"),
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and "age" in lines[0] and "row 5" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_survey.csv"]


def test_cli_survey_year_before_the_scheme_is_a_user_error(tmp_path, rows):
    """A 2010 survey (allowed by the codebook's year range): exit code 2 with a message, not a crash."""
    path = write_csv(tmp_path, rows.assign(survey_year="2010"), name="survey_2010.csv")
    result = invoke("calibrate", "survey", path, "--out", tmp_path / "cal")
    assert result.exit_code == 2, (result.exit_code, repr(result.exception))
    assert "survey_year" in squash(result.output) or "2010" in result.output


def test_cli_survey_without_respondents_is_a_user_error(tmp_path, rows):
    """A survey with the header but no respondents: exit code 2 naming the file, not a crash."""
    path = write_csv(tmp_path, rows.head(0), name="empty_survey.csv")
    result = invoke("calibrate", "survey", path, "--out", tmp_path / "cal")
    assert result.exit_code == 2, (result.exit_code, repr(result.exception))
    assert squash(str(path)) in squash(result.output)


# --- the shipped stand-in -----------------------------------------------------------------------


def test_shipped_standin_reads_cleanly_and_says_it_is_synthetic(standin_survey):
    """The stand-in follows the codebook, has the documented number of respondents (1..n, unique),
    and its first line says it is synthetic."""
    first = STANDIN_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#") and "SYNTHETIC" in first
    stated = int(re.search(r"(\d+) respondents", first).group(1))
    assert stated == standin.RESPONDENTS and len(standin_survey) == stated
    assert list(standin_survey["respondent"]) == list(range(1, stated + 1))
    assert set(standin_survey["survey_year"]) == {standin.SURVEY_YEAR}


def test_shipped_standin_columns_are_typed(standin_survey, codebook):
    """read_survey gives every codebook column, numbers as numbers and grades only for payers."""
    assert list(standin_survey.columns) == list(codebook)
    assert pd.api.types.is_integer_dtype(standin_survey["age"])
    assert pd.api.types.is_numeric_dtype(standin_survey["income"])
    enrolled = standin_survey["enrolled"] == "yes"
    assert standin_survey.loc[enrolled, "grade"].notna().all()
    assert standin_survey.loc[~enrolled, "grade"].isna().all()


# --- surveys the estimation cannot learn from -----------------------------------------------------


def _all_at(frame: pd.DataFrame, grade: str) -> pd.DataFrame:
    return frame.assign(enrolled="yes", grade=grade)


UNESTIMABLE = {  # case: (change to the stand-in, field named or None, message fragment)
    "one respondent": (lambda f: f.head(1), None, "only one respondent"),
    "fewer respondents than terms": (lambda f: f.head(10), None, "10 respondents for 13 estimated terms"),
    "nobody enrolled": (lambda f: f.assign(enrolled="no", grade=""), "enrolled", "nobody is enrolled"),
    "everyone at one grade": (
        lambda f: _all_at(f, "300"),
        "grade",
        "every respondent chose the same option (grade 300)",
    ),
    "every payer at the lowest grade": (
        lambda f: f.assign(grade=f["grade"].where(f["enrolled"] != "yes", "100")),
        "grade",
        "every enrolled respondent paid at the lowest grade (100)",
    ),
}


@pytest.mark.parametrize("case", list(UNESTIMABLE))
def test_a_survey_the_estimation_cannot_learn_from_is_one_message(tmp_path, case):
    """Before: a crash inside statsmodels, or unidentified estimates marked converged and written."""
    change, field, fragment = UNESTIMABLE[case]
    full = pd.read_csv(STANDIN_FILE, dtype=str, keep_default_na=False, comment="#")
    path = write_csv(tmp_path, change(full))
    result = invoke("calibrate", "survey", path, "--out", tmp_path / "cal")
    text = squash(result.output)
    assert result.exit_code == 2, (result.output, repr(result.exception))
    assert text.startswith(f"error:{path}" + (f":{field}:" if field else ":")), result.output
    assert squash(fragment) in text and result.output.count("error:") == 1
    assert not (tmp_path / "cal").exists()
