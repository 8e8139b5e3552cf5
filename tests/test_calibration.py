"""The calibration commands: `calibrate survey` writes the fitted file and the report, `calibrate
aggregates` adds the fit to the targets, a new survey fit drops a stale aggregate fit; the baseline
uses the repository's fitted file; the targets file is validated."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from abm.analysis import experiments
from abm.analysis.fitting import aggregates, estimate, pipeline, report
from abm.infra.errors import UserError
from abm.inputs.coefficients import CHOICE, DYNAMICS, TERMS, load_coefficients
from abm.sim.indicators import names
from abm.sim.model import PensionModel
from helpers import (
    FITTED_FILE,
    PNG_MAGIC,
    STANDIN_FILE,
    TARGETS_FILE,
    folder_digest,
    invoke,
    sha256,
    small,
    squash,
)

FIGURES = ("baseline_targets.png", "survey_shares.png")
TOL = 1e-6  # the estimation section rounds to 6 decimals


@pytest.fixture(scope="module")
def reuse_estimates():
    """Estimating the same survey file for the same scenario gives the same result, so within this
    module pipeline.estimate_survey is computed once per (file content, scenario) and reused:
    the commands below run as they are, without repeating a 5-second estimation."""
    real, cache = pipeline.estimate_survey, {}

    def once(survey_file, scenario):
        if not Path(survey_file).is_file():
            return real(survey_file, scenario)
        key = (sha256(survey_file), scenario.model_dump_json())
        if key not in cache:
            cache[key] = real(survey_file, scenario)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "estimate_survey", once)
        yield cache


def _state(folder: Path, result) -> dict:
    fitted_file = folder / "fitted" / "coefficients.yaml"
    return {
        "exit_code": result.exit_code,
        "output": result.output,
        "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
        "fitted": yaml.safe_load(fitted_file.read_text(encoding="utf-8")) if fitted_file.is_file() else None,
        "report": (folder / "report.md").read_text(encoding="utf-8") if (folder / "report.md").is_file() else "",
        "png_heads": {p.name: p.read_bytes()[:8] for p in (folder / "report_figures").glob("*.png")},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, reuse_estimates) -> dict:
    """calibrate survey, then aggregates (budget 3, 1 seed, 500 residents), then survey again, into one
    --out folder; the folder's state after each. The report's replications are 2 instead of 20: what
    is checked here is what the report holds, not how narrow its bands are."""
    folder = tmp_path_factory.mktemp("calibrate") / "cal"
    states = {"folder": folder}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "REPORT_REPLICATIONS", 2)
        states["survey"] = _state(folder, invoke("calibrate", "survey", "--out", folder))
        states["aggregates"] = _state(
            folder, invoke("calibrate", "aggregates", "--budget", 3, "--seeds", 1, "--residents", 500, "--out", folder)
        )
        states["rerun"] = _state(folder, invoke("calibrate", "survey", "--out", folder))
    return states


@pytest.fixture(scope="module")
def priors():
    return load_coefficients("default")


@pytest.fixture(scope="module")
def targets_data() -> list[dict]:
    return yaml.safe_load(TARGETS_FILE.read_text(encoding="utf-8"))["targets"]


# --- calibrate survey ----------------------------------------------------------------------------


@pytest.mark.slow
def test_survey_writes_the_fitted_file_report_and_figures(runs):
    """calibrate survey --out DIR: exit 0; DIR holds fitted/coefficients.yaml, report.md and two PNG figures."""
    state = runs["survey"]
    assert state["exit_code"] == 0, state["output"]
    expected = ["fitted/coefficients.yaml", "report.md", *(f"report_figures/{f}" for f in FIGURES)]
    assert state["files"] == sorted(expected)
    assert state["png_heads"] == dict.fromkeys(FIGURES, PNG_MAGIC)


@pytest.mark.slow
def test_survey_says_the_targets_are_not_fitted_yet_and_names_the_next_step(runs, targets_data):
    """After the survey step every target is shown in its unit, as not fitted yet, and the command
    names `calibrate aggregates` with the same --out; after the fit it does not."""
    from abm.sim import outcomes

    survey, fit = squash(runs["survey"]["output"]), squash(runs["aggregates"]["output"])
    assert "notfittedyet" in survey and f"calibrateaggregates--out{squash(str(runs['folder']))}" in survey
    assert "notfittedyet" not in fit and "withthefittedcoefficients" in fit
    lines = runs["survey"]["output"].splitlines()
    for target in targets_data:  # in the indicator's unit: a share in %, its label's first words beside it
        name = target["indicator"]
        shown = f"{outcomes.number(name, target['value'])} ± {outcomes.number(name, target['tolerance'])}"
        row = next(line for line in lines if shown in line)
        assert outcomes.heading(name).split()[0] in row and str(target["year"]) in row


@pytest.mark.slow
def test_fitted_file_loads_as_fitted_coefficients(runs):
    """The written file is a valid coefficients file (every term and dynamic), status 'fitted'."""
    path = runs["folder"] / "fitted" / "coefficients.yaml"
    coefficients = load_coefficients(path)
    assert coefficients.status == "fitted" and Path(coefficients.source) == path
    assert set(coefficients.choice) == set(CHOICE) and set(coefficients.dynamics) == set(DYNAMICS)


@pytest.mark.slow
def test_estimation_section_records_the_survey_and_the_estimates(runs, standin_survey):
    """The estimation section names the stand-in by its sha256, counts its respondents, and its
    estimates are the values of the choice section; terms not estimated are listed as held."""
    fitted = runs["survey"]["fitted"]
    est = fitted["estimation"]
    assert est["survey_sha256"] == sha256(STANDIN_FILE)
    assert Path(est["survey"]).resolve() == STANDIN_FILE.resolve()
    assert est["n"] == len(standin_survey) and est["converged"] is True
    terms, held = est["terms"], est["held_at_prior"]
    survey_terms = set(terms) - {estimate.LIQUIDITY}
    assert not survey_terms & set(held) and survey_terms | set(held) == set(estimate.SURVEY_TERMS)
    assert list(est["estimates"]) == terms and list(est["standard_errors"]) == terms
    assert len(est["covariance"]) == len(terms) and all(len(row) == len(terms) for row in est["covariance"])
    values = fitted["choice"]["value"] | fitted["heterogeneity"]["value"]
    for term in terms:
        assert values[term] == pytest.approx(est["estimates"][term], abs=TOL), term
    assert est["log_likelihood"] > est["null_log_likelihood"]


@pytest.mark.slow
def test_survey_fit_keeps_everything_else_at_the_priors(runs, priors):
    """Terms the survey did not estimate (held, habit, herding) and all dynamics are the packaged priors."""
    fitted = runs["survey"]["fitted"]
    estimated = set(fitted["estimation"]["terms"])
    for term in set(TERMS) - estimated:
        assert fitted["choice"]["value"][term] == priors.choice[term], term
    assert fitted["dynamics"]["value"] == priors.dynamics
    assert "aggregates" not in fitted


@pytest.mark.slow
def test_survey_report_shows_the_estimates_and_every_target(runs, targets_data):
    """report.md: the stand-in marked synthetic, each estimated term, and every target of targets.yaml."""
    report = runs["survey"]["report"]
    assert "synthetic" in report.lower()
    for term in runs["survey"]["fitted"]["estimation"]["terms"]:
        assert re.search(rf"^\|\s*{term}\s*\|", report, flags=re.MULTILINE), term
    for target in targets_data:
        assert _target_row(report, target), target["indicator"]
    assert "awareness_publicity" not in report  # no aggregate fit yet


def _target_row(report: str, target: dict) -> bool:
    """A table row with the target's indicator and year."""
    return (
        re.search(rf"^\|.*\|\s*{target['indicator']}\s*\|\s*{target['year']}\s*\|", report, flags=re.MULTILINE)
        is not None
    )


# --- calibrate aggregates ------------------------------------------------------------------------


@pytest.mark.slow
def test_aggregates_adds_a_section_with_every_fitted_parameter_in_bounds(runs):
    """calibrate aggregates: exit 0; the section fits exactly aggregates.PARAMETERS, each within its bounds,
    with no more evaluations than the budget."""
    state = runs["aggregates"]
    assert state["exit_code"] == 0, state["output"]
    section = state["fitted"]["aggregates"]
    assert list(section["values"]) == list(aggregates.PARAMETERS)
    for name, (_, low, high) in aggregates.PARAMETERS.items():
        assert low <= section["values"][name] <= high, name
        assert (section["lower"][name], section["upper"][name]) == (low, high)
    assert 1 <= section["evaluations"] <= 3
    assert (section["seeds"], section["residents"]) == (1, 500)


@pytest.mark.slow
def test_aggregates_values_are_written_to_their_sections(runs):
    """Each fitted parameter's value is in the file's choice, dynamics or valuation section, as PARAMETERS says."""
    fitted = runs["aggregates"]["fitted"]
    for name, (where, _, _) in aggregates.PARAMETERS.items():
        assert fitted[where]["value"][name] == pytest.approx(fitted["aggregates"]["values"][name], abs=TOL), name


@pytest.mark.slow
def test_aggregates_keeps_the_survey_estimates(runs):
    """The estimation section is unchanged, and survey terms not refitted keep their estimates."""
    before, after = runs["survey"]["fitted"], runs["aggregates"]["fitted"]
    assert after["estimation"] == before["estimation"]
    for term in set(before["estimation"]["terms"]) - set(aggregates.PARAMETERS) - {estimate.LIQUIDITY}:
        assert after["choice"]["value"][term] == before["choice"]["value"][term], term
    assert after["heterogeneity"] == before["heterogeneity"]


@pytest.mark.slow
def test_aggregates_report_lists_the_fit_and_every_target(runs, targets_data):
    """report.md after the fit: a row per fitted parameter and per target of targets.yaml; the field
    experiments with their targets, the sensitivity of every fitted target to every parameter, and
    the lowest-grade share by mechanism."""
    report = runs["aggregates"]["report"]
    for name in aggregates.PARAMETERS:
        assert re.search(rf"^\|\s*{name}\s*\|", report, flags=re.MULTILINE), name
        assert re.search(rf"^\|\s*{name} ±[0-9.e-]+\s*\|", report, flags=re.MULTILINE), name  # sensitivity row
    for target in targets_data:
        assert _target_row(report, target), target["indicator"]
    for measure in experiments.MEASURES:
        experiment, name = measure.split(".")
        assert re.search(rf"^\|\s*{experiment}\s*\|\s*{name}\s*\|", report, flags=re.MULTILINE), measure
    assert "## The lowest-grade share by mechanism" in report
    assert re.search(r"^\|\s*all \(fitted model\)\s*\|", report, flags=re.MULTILINE)
    assert runs["aggregates"]["png_heads"] == dict.fromkeys(FIGURES, PNG_MAGIC)


@pytest.mark.slow
def test_the_survey_report_leaves_the_fitted_checks_to_the_aggregate_fit(runs):
    assert "Computed for the fitted model: run `pension-abm calibrate aggregates`" in runs["survey"]["report"]
    assert "## Field experiments\n" not in runs["survey"]["report"]


@pytest.mark.slow
def test_new_survey_fit_drops_the_stale_aggregate_fit(runs, priors):
    """Re-running calibrate survey removes the aggregates section and puts habit, herding and the
    dynamics back at their priors; the report no longer shows the aggregate fit."""
    state = runs["rerun"]
    assert state["exit_code"] == 0, state["output"]
    fitted = state["fitted"]
    assert "aggregates" not in fitted
    assert fitted["dynamics"]["value"] == priors.dynamics
    for term in ("peer_share", "inertia"):
        assert fitted["choice"]["value"][term] == priors.choice[term]
    assert fitted["choice"] == runs["survey"]["fitted"]["choice"]
    assert "awareness_publicity" not in state["report"]


def test_aggregates_without_a_survey_fit_exits_2(tmp_path):
    """calibrate aggregates on an empty folder: exit 2, telling to run calibrate survey first; nothing written."""
    out = tmp_path / "empty"
    out.mkdir()
    result = invoke("calibrate", "aggregates", "--budget", 1, "--seeds", 1, "--residents", 500, "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "calibratesurvey" in squash(result.output)
    assert squash(result.output).startswith("error:"), result.output  # the one message: no progress bar before it
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_aggregates_refuses_a_changed_survey(tmp_path, runs):
    """If the survey's sha256 differs from the one estimated, calibrate aggregates exits 2 and changes nothing."""
    data = dict(runs["survey"]["fitted"])
    data["estimation"] = dict(data["estimation"], survey_sha256="0" * 64)
    path = tmp_path / "cal" / "fitted" / "coefficients.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    before = path.read_bytes()
    result = invoke(
        "calibrate", "aggregates", "--budget", 1, "--seeds", 1, "--residents", 500, "--out", tmp_path / "cal"
    )
    assert result.exit_code == 2, result.output
    assert "changed" in result.output and "calibratesurvey" in squash(result.output)
    assert path.read_bytes() == before and not (tmp_path / "cal" / "report.md").exists()


def test_survey_with_bad_targets_writes_nothing(tmp_path, reuse_estimates, targets_data):
    """calibrate survey --targets BAD: exit 2 naming the targets file, and the --out folder is not written."""
    bad = tmp_path / "targets.yaml"
    entries = [dict(t) for t in targets_data]
    entries[1]["indicator"] = "happiness"
    bad.write_text(yaml.safe_dump({"targets": entries}), encoding="utf-8")
    out = tmp_path / "cal"
    result = invoke("calibrate", "survey", "--out", out, "--targets", bad)
    assert result.exit_code == 2, result.output
    assert "targets[1].indicator" in squash(result.output)
    assert not out.exists(), sorted(str(p.relative_to(out)) for p in out.rglob("*"))


# --- the repository's fitted file ----------------------------------------------------------------


def test_baseline_model_uses_the_repository_fitted_file(baseline, priors):
    """PensionModel on the baseline loads calibration/fitted/coefficients.yaml, with its values
    (which are not the packaged priors)."""
    model = PensionModel(scenario=small(baseline, residents=200, end_year=2012))
    assert Path(model.coefficients.source).resolve() == FITTED_FILE.resolve()
    data = yaml.safe_load(FITTED_FILE.read_text(encoding="utf-8"))
    assert model.coefficients.choice == {k: float(v) for k, v in data["choice"]["value"].items()}
    assert model.coefficients.dynamics == {k: float(v) for k, v in data["dynamics"]["value"].items()}
    assert model.coefficients.choice != priors.choice


def test_repository_fitted_file_matches_the_shipped_survey():
    """The committed fit was estimated from the committed stand-in (same sha256), and its values are the
    estimates, or the aggregate fit for the parameters that fit sets, within their bounds."""
    data = yaml.safe_load(FITTED_FILE.read_text(encoding="utf-8"))
    est = data["estimation"]
    values = (
        data["choice"]["value"]
        | data["dynamics"]["value"]
        | data["valuation"]["value"]
        | data["heterogeneity"]["value"]
    )
    assert est["survey_sha256"] == sha256(STANDIN_FILE)
    refit = data.get("aggregates", {}).get("values", {})
    for term in est["terms"]:
        expected = refit.get(term, est["estimates"][term])
        assert values[term] == pytest.approx(expected, abs=TOL), term
    for name, value in refit.items():
        _, low, high = aggregates.PARAMETERS[name]
        assert values[name] == pytest.approx(value, abs=TOL) and low <= value <= high, name


@pytest.mark.slow
def test_repository_fit_still_describes_the_model(baseline):
    """The shipped aggregate fit's loss, evaluated again with the model as it is now (the fit's own common
    random numbers), is the loss recorded. A change to the rules, or to the random draws, moves it: the fit
    is then stale and `pension-abm calibrate aggregates` must be run again."""
    recorded, now = pipeline.fit_loss(baseline, FITTED_FILE.parent.parent)
    assert now == pytest.approx(recorded, rel=1e-4), (
        f"the fit's loss is {now:.6f} with the model as it is, {recorded:.6f} when fitted: "
        "run `pension-abm calibrate aggregates`"
    )


# --- targets file ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known(baseline) -> set[str]:
    grades = sorted({g for grades in baseline.policy.grades.values() for g in grades})
    return set(names(grades))


def _targets_file(folder: Path, entries: list[dict]) -> Path:
    path = folder / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": entries}, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_targets_are_valid(known, targets_data):
    """The repository's targets.yaml loads with every indicator known and positive tolerances."""
    targets = aggregates.load_targets(TARGETS_FILE, known=known)
    assert [t.indicator for t in targets] == [t["indicator"] for t in targets_data]


def test_unknown_indicator_names_the_target(tmp_path, known, targets_data):
    """An indicator the model does not produce: UserError naming the file and targets[i].indicator."""
    entries = [dict(t) for t in targets_data]
    entries[2]["indicator"] = "happiness_rate"
    path = _targets_file(tmp_path, entries)
    with pytest.raises(UserError) as caught:
        aggregates.load_targets(path, known=known)
    assert caught.value.file == str(path) and caught.value.field == "targets[2].indicator"
    assert "happiness_rate" in str(caught.value)


@pytest.mark.parametrize(
    "tolerance", [0, -0.01, "0.05", float("inf"), float("nan")], ids=["zero", "negative", "text", "infinite", "NaN"]
)
def test_a_bad_tolerance_names_the_target(tmp_path, known, targets_data, tolerance):
    """A tolerance of zero or below, or given as text: UserError naming the file and targets[i].tolerance."""
    entries = [dict(t) for t in targets_data]
    entries[3]["tolerance"] = tolerance
    path = _targets_file(tmp_path, entries)
    with pytest.raises(UserError) as caught:
        aggregates.load_targets(path, known=known)
    assert caught.value.file == str(path) and caught.value.field == "targets[3].tolerance"


def test_an_infinite_target_value_names_the_target(tmp_path, known, targets_data):
    entries = [dict(t) for t in targets_data]
    entries[1]["value"] = float("inf")
    with pytest.raises(UserError) as caught:
        aggregates.load_targets(_targets_file(tmp_path, entries), known=known)
    assert caught.value.field == "targets[1].value" and "finite" in caught.value.message


def test_target_with_a_missing_field_names_it(tmp_path, known, targets_data):
    """A target without its value: UserError naming targets[i] and the required fields."""
    entries = [dict(t) for t in targets_data]
    del entries[4]["value"]
    path = _targets_file(tmp_path, entries)
    with pytest.raises(UserError) as caught:
        aggregates.load_targets(path, known=known)
    assert caught.value.field == "targets[4]" and "value" in str(caught.value)


# --- a failure leaves the folder as it was -------------------------------------------------------


@pytest.mark.slow
def test_a_failing_report_leaves_the_calibration_folder_as_it_was(runs, tmp_path, monkeypatch):
    """Both commands compute the fitted file, then fail in the report after its first figure: every
    file of the folder (names and bytes, hidden ones too) is as before, and no staging folder is left."""
    folder = tmp_path / "cal"
    shutil.copytree(runs["folder"], folder)
    before = folder_digest(folder)

    def broken(*args, **kwargs):
        raise RuntimeError("the report failed")

    monkeypatch.setattr(report, "baseline_figure", broken)
    monkeypatch.setattr(pipeline, "REPORT_REPLICATIONS", 2)
    for command in (["survey"], ["aggregates", "--budget", 1, "--seeds", 1, "--residents", 500]):
        result = invoke("calibrate", *command, "--out", folder)
        assert isinstance(result.exception, RuntimeError), result.output
        assert folder_digest(folder) == before
        assert sorted(p.name for p in folder.iterdir()) == ["fitted", "report.md", "report_figures"]
