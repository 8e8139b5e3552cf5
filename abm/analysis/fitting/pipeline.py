"""The two calibration commands: estimate from the survey; fit to the aggregates. Both
rewrite the fitted coefficients of a calibration folder and regenerate its report, as one unit:
everything is computed into a staging folder first and put in place together, so a failure
leaves the calibration folder as it was."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from abm.analysis import directions, experiments
from abm.analysis.fitting import aggregates, estimate, fitted, identification, report
from abm.analysis.fitting.survey import CALIBRATION_DIR, STANDIN, choice_situations, file_hash, read_survey
from abm.infra import atomic, destinations
from abm.infra.errors import UserError
from abm.inputs.coefficients import load_coefficients
from abm.inputs.dated import value_at
from abm.inputs.scenario import Scenario
from abm.sim.indicators import names
from abm.sim.policy import policy_for_year

CALIBRATION_SEED = 20240101
REPORT_REPLICATIONS = 20
REPORT_END_YEAR = 2024
DECOMPOSITION_YEAR = 2018  # the Shanxi survey's year
DIRECTIONS_YEAR, DIRECTIONS_RESIDENTS = 2026, 5000  # the policy directions' levers (abm/analysis/directions.py)


def estimate_survey(survey_file: Path, scenario: Scenario):
    """The survey read and checked, its choice situations, and both estimations."""
    survey = read_survey(survey_file)
    situations = choice_situations(survey, scenario, survey_file)
    year = int(survey["survey_year"].min())
    lowest = policy_for_year(scenario.policy, year, value_at(scenario.policy.basic_pension, year)).lowest_grade
    terms = estimate.identified_terms(situations)
    _check_estimable(survey, survey_file, len(terms), lowest)
    priors = load_coefficients("default").choice
    held = {t: priors[t] for t in estimate.SURVEY_TERMS if t not in terms}
    try:
        choice, test = estimate.choice_model(situations, terms, fixed=held)
        study = estimate.study_logit(survey, lowest)
    except (ValueError, np.linalg.LinAlgError) as err:
        raise UserError(
            f"the answers do not identify the choice coefficients ({err}); the survey needs "
            "respondents who differ in what they chose and in their circumstances",
            file=survey_file,
        ) from None
    return survey, situations, choice, study, test


def _check_estimable(survey, survey_file: Path, terms: int, lowest: float) -> None:
    """A survey the estimation can learn from: enough respondents, and differing choices."""
    n, payers = len(survey), survey[survey["enrolled"] == "yes"]
    if n == 1:
        raise UserError(
            f"only one respondent; the estimation needs more than {terms} (one per estimated term)", file=survey_file
        )
    if n <= terms:
        raise UserError(
            f"{n} respondents for {terms} estimated terms; the estimation needs more than {terms}", file=survey_file
        )
    if payers.empty:
        raise UserError(
            "nobody is enrolled: choices of a grade cannot be estimated without payers",
            file=survey_file,
            field="enrolled",
        )
    options = survey["grade"].fillna(0).unique()
    if len(options) == 1:
        chosen = "not enrolling" if options[0] == 0 else f"grade {int(options[0])}"
        raise UserError(
            f"every respondent chose the same option ({chosen}): the choice cannot be estimated",
            file=survey_file,
            field="grade",
        )
    if (payers["grade"] > lowest).all() or (payers["grade"] <= lowest).all():
        side = "above" if (payers["grade"] > lowest).all() else "at"
        raise UserError(
            f"every enrolled respondent paid {side} the lowest grade ({lowest:.0f}); the study's logit "
            "of paying above it needs both",
            file=survey_file,
            field="grade",
        )


def calibrate_survey(
    scenario: Scenario,
    survey_file: Path = STANDIN,
    folder: Path = CALIBRATION_DIR,
    targets_file: Path = aggregates.TARGETS,
) -> dict:
    """Estimate the choice terms a survey identifies; keep the rest; rewrite file and report."""
    destinations.check(folder, "calibration")
    # the report needs valid targets: check them before the fitted file is rewritten
    aggregates.load_targets(targets_file, known=set(names(_grades(scenario))))
    survey_fit = estimate_survey(survey_file, scenario)
    est, test = survey_fit[2], survey_fit[4]
    section = {
        "method": "conditional logit (statsmodels ConditionalLogit), McFadden's choice model",
        "survey": _portable(survey_file, folder),
        "survey_sha256": file_hash(survey_file),
        "date": date.today().isoformat(),
        "n": est.n,
        "log_likelihood": round(est.loglik, 4),
        "null_log_likelihood": round(est.null_loglik, 4),
        "converged": est.converged,
        "terms": list(est.terms),
        "held_at_prior": [t for t in estimate.SURVEY_TERMS if t not in est.terms],
        "at_bound": list(est.at_bound),
        "heterogeneity_test": test,
        "estimates": dict(zip(est.terms, est.params.round(6).tolist())),
        "standard_errors": dict(zip(est.terms, est.bse.round(6).tolist())),
        "covariance": est.cov.round(8).tolist(),
    }
    # a new survey fit makes any earlier aggregate fit stale: the rest goes back to the priors
    priors = load_coefficients("default")
    choice = priors.choice | {t: v for t, v in zip(est.terms, est.params.tolist()) if t in priors.choice}
    heterogeneity = {"liquidity_sd": estimate.liquidity_sd(est)}
    with _staged(folder) as staging:
        fitted.write(
            staging,
            choice,
            priors.dynamics,
            {"estimation": section, "aggregates": None},
            priors.valuation,
            heterogeneity,
        )
        return regenerate_report(scenario, survey_file, folder, targets_file, survey_fit, into=staging)


def calibrate_aggregates(
    scenario: Scenario,
    budget: int = 500,
    seeds: int = 4,
    residents: int = 4000,
    folder: Path = CALIBRATION_DIR,
    targets_file: Path = aggregates.TARGETS,
    on_evaluation=lambda n, best: None,
    workers: int = 1,
) -> dict:
    """Fit the parameters the survey cannot identify to the targets, by simulated moments (a global
    search on ``workers`` processes; the result does not depend on their number), with the fitted
    parameters' covariance from the loss's curvature. ``on_evaluation(n, best loss)`` is called with 0
    once every input is checked, then after each evaluation."""
    destinations.check(folder, "calibration")
    estimation = fitted.section(folder, "estimation")
    if not estimation:
        raise UserError(
            "no survey estimates yet: run `pension-abm calibrate survey` first", file=fitted.path_in(folder)
        )
    survey_file = _resolve(estimation["survey"], folder)
    if not survey_file.is_file() or file_hash(survey_file) != estimation["survey_sha256"]:
        raise UserError(
            "the survey is missing or changed since it was estimated: run `pension-abm calibrate survey` first",
            file=survey_file,
        )
    targets = aggregates.load_targets(targets_file, known=set(names(_grades(scenario))))
    small = _small(scenario, residents)
    started = time.perf_counter()
    crn = _seeds(seeds, stream=0)
    start = _fresh_start(folder, estimation)
    on_evaluation(0, float("nan"))
    evidence_seed = _seeds(1, stream=2)[0]
    result = aggregates.fit(
        small, start, targets, crn, budget, on_evaluation, evidence_seed=evidence_seed, workers=workers
    )
    best = aggregates.with_coefficients(start, result.values)
    covariance, jacobian = _curvature(small, best, targets, crn, evidence_seed)
    standard_errors = {k: round(float(np.sqrt(max(covariance.at[k, k], 0.0))), 6) for k in covariance.index}
    section = {
        "method": (
            f"simulated moments on common random numbers: {aggregates.SCREEN} scrambled Sobol points over "
            f"the ranges, then Nelder-Mead from the {aggregates.STARTS} best that lie apart"
        ),
        "date": date.today().isoformat(),
        "targets": _portable(targets_file, folder),
        "evaluations": result.evaluations,
        "seeds": len(crn),
        "residents": residents,
        "loss": round(result.loss, 6),
        "seconds": round(time.perf_counter() - started, 1),
        "values": {k: round(float(v), 6) for k, v in result.values.items()},
        "lower": {k: aggregates.PARAMETERS[k][1] for k in result.values},
        "upper": {k: aggregates.PARAMETERS[k][2] for k in result.values},
        "at_bound": aggregates.at_bound(result.values),
        "optima": [
            {
                "loss": round(o["loss"], 6),
                "evaluations": o["evaluations"],
                "values": {k: round(float(v), 6) for k, v in o["values"].items()},
            }
            for o in result.optima
        ],
        "standard_errors": standard_errors,
        "unbounded": aggregates.unbounded(standard_errors),
        "covariance": {
            "parameters": list(covariance.index),
            "sections": [aggregates.PARAMETERS[k][0] for k in covariance.index],
            "matrix": covariance.to_numpy().round(10).tolist(),
        },
        "identified_by": {
            k: jacobian[k].abs().idxmax() if jacobian[k].abs().max() > 0 else None for k in jacobian.columns
        },
    }
    with _staged(folder) as staging:
        fitted.write(staging, best.choice, best.dynamics, {"aggregates": section}, best.valuation, best.heterogeneity)
        return regenerate_report(scenario, survey_file, folder, targets_file, into=staging)


def fit_loss(scenario: Scenario, folder: Path) -> tuple[float, float]:
    """The aggregate fit's loss as recorded, and the loss of the folder's fitted coefficients evaluated
    now as the fit evaluated them (its common random numbers, seeds, residents, targets and field
    experiments). The two agree while the fit still describes the code; a change to the model's rules
    or to its random draws moves the second, and the fit must then be run again.

    Args:
        scenario: the scenario the fit was made for (the shipped baseline).
        folder: the calibration folder the fit wrote (the repository's ``calibration/``), holding
            ``fitted/coefficients.yaml``.
    """
    section = fitted.section(folder, "aggregates")
    if not section:
        raise UserError("no aggregate fit yet: run `pension-abm calibrate aggregates`", file=fitted.path_in(folder))
    targets = aggregates.load_targets(_resolve(section["targets"], folder), known=set(names(_grades(scenario))))
    evidence_seed = _seeds(1, stream=2)[0]
    table, evidence = aggregates.evaluate(
        _small(scenario, section["residents"]),
        fitted.current(folder),
        targets,
        _seeds(section["seeds"], stream=0),
        evidence_seed,
    )
    return float(section["loss"]), aggregates.loss(table, evidence)


def _curvature(small: Scenario, coefficients, targets: list, seeds: list[int], evidence_seed: int):
    """The fitted parameters' covariance and the targets' derivatives (identification.fit_covariance)
    over the targets that have a value (the time series' and the value experiments')."""
    evaluate = identification.moments(small, targets, seeds, evidence_seed)
    valued = {
        name: target
        for name, target in experiments.load_evidence().items()
        if "value" in target and target.get("fit", True)
    }
    evidence = pd.DataFrame(
        [
            {
                "experiment": name.split(".")[0],
                "measure": name.split(".")[1],
                "tolerance": target["tolerance"],
                "fit": True,
            }
            for name, target in valued.items()
        ]
    )
    return identification.fit_covariance(evaluate, coefficients, identification.tolerances(targets, evidence))


@contextmanager
def _staged(folder: Path) -> Iterator[Path]:
    """A staging folder holding a copy of the folder's fitted file (whose other sections are kept);
    its files replace the folder's when the block completes (:func:`abm.infra.atomic.files`)."""
    with atomic.files(folder) as staging:
        if fitted.path_in(folder).is_file():
            fitted.path_in(staging).parent.mkdir(parents=True)
            shutil.copy2(fitted.path_in(folder), fitted.path_in(staging))
        yield staging


def _fresh_start(folder: Path, estimation: dict):
    """The survey estimates, with the parameters to fit back at their priors (or, for a term the
    survey estimates, at its estimate), so the same inputs always give the same fit."""
    priors, estimates = load_coefficients("default"), estimation.get("estimates", {})
    values = {
        name: estimates.get(name, getattr(priors, section)[name])
        for name, (section, _, _) in aggregates.PARAMETERS.items()
    }
    return aggregates.with_coefficients(fitted.current(folder), values)


def regenerate_report(
    scenario: Scenario, survey_file: Path, folder: Path, targets_file: Path, survey_fit=None, into: Path | None = None
) -> dict:
    """Rebuild the folder's report.md from its fitted file, the survey and fresh replications.

    Args:
        into: where the fitted file is read and the report written (a staging folder), if not
            ``folder``; paths in the report stay relative to ``folder``'s parent.
    """
    into = folder if into is None else into
    survey, situations, est, study, test = survey_fit or estimate_survey(survey_file, scenario)
    targets = aggregates.load_targets(targets_file, known=set(names(_grades(scenario))))
    coefficients = fitted.current(into)
    series = aggregates.simulate(scenario, coefficients, _seeds(REPORT_REPLICATIONS, stream=1), REPORT_END_YEAR)
    aggregate_fit = fitted.section(into, "aggregates")
    checks = _fitted_checks(scenario, coefficients, targets, aggregate_fit) if aggregate_fit else {}
    context = {
        "survey_file": _portable(survey_file, folder),
        "survey_hash": file_hash(survey_file),
        "respondents": len(survey),
        "synthetic": Path(survey_file).resolve() == STANDIN.resolve(),
        "survey_years": ", ".join(str(y) for y in sorted(survey["survey_year"].unique())),
        "estimate": est,
        "study": study,
        "shares": report.outcome_shares(survey, situations, est),
        "series": series,
        "targets": aggregates.target_table(series, targets),
        "replications": REPORT_REPLICATIONS,
        "aggregates": aggregate_fit,
        "valuation": coefficients.valuation,
        "heterogeneity_test": test,
        **checks,
        "held": [t for t in estimate.SURVEY_TERMS if t not in est.terms],
    }
    report.write(context, into)
    return context


def _fitted_checks(scenario: Scenario, coefficients, targets: list, aggregate_fit: dict) -> dict:
    """The fitted model's field experiments (REPORT_REPLICATIONS runs), the targets' sensitivities
    to the parameters (on the fit's own random numbers) and the lowest-grade share by mechanism,
    all with the fit's residents."""
    residents = int(aggregate_fit["residents"])
    small = _small(scenario, residents)
    evidence = aggregates.evidence_table(small, coefficients, _seeds(1, stream=3)[0], REPORT_REPLICATIONS)
    evaluate = identification.moments(
        small, targets, _seeds(int(aggregate_fit["seeds"]), stream=0), _seeds(1, stream=2)[0]
    )
    return {
        "evidence": evidence,
        "evidence_year": aggregates.EXPERIMENT_YEAR,
        "report_residents": residents,
        "sensitivity": identification.sensitivities(
            evaluate, coefficients, identification.tolerances(targets, evidence)
        ),
        "decomposition": identification.lowest_grade_decomposition(
            small, coefficients, _seeds(REPORT_REPLICATIONS, stream=1), DECOMPOSITION_YEAR
        ),
        "decomposition_year": DECOMPOSITION_YEAR,
        "directions": directions.check(
            scenario.source_file,
            DIRECTIONS_YEAR,
            REPORT_REPLICATIONS // 2,
            DIRECTIONS_RESIDENTS,
            coefficients=coefficients,
        ),
    }


def _small(scenario: Scenario, residents: int) -> Scenario:
    """The scenario with ``residents`` simulated residents and no Household objects, as the fit runs it."""
    return scenario.model_copy(
        update={"population": scenario.population.model_copy(update={"residents": residents, "agents": "none"})}
    )


def _portable(path: Path, folder: Path) -> str:
    """A path relative to the folder's parent (the repository) where possible."""
    path, base = Path(path).resolve(), Path(folder).resolve().parent
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def _resolve(stored: str, folder: Path) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else Path(folder).resolve().parent / path


def _grades(scenario: Scenario) -> list[int]:
    return sorted({g for grades in scenario.policy.grades.values() for g in grades})


def _seeds(count: int, stream: int) -> list[int]:
    sequence = np.random.SeedSequence(CALIBRATION_SEED).spawn(stream + 1)[stream]
    return [int(s) for s in sequence.generate_state(count)]
