"""Fitting what a survey cannot identify to published aggregates and field experiments, by simulated moments.

The loss is the sum over fitted targets of ((simulated mean - target) / tolerance)^2, plus for
each fitted field experiment (calibration/evidence.yaml, replayed by abm/analysis/experiments.py) its miss
in tolerances squared (0 while a bound holds); every mean is taken over a fixed set of seeds
(common random numbers, so the loss is a smooth-enough, deterministic function of the
parameters). Nelder-Mead searches in a logistic transform of each parameter's bounds, from the
best of the current values and a scrambled Sobol design over the bounds (the loss has several
valleys: a single simplex stays in the first it finds).
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from scipy.stats import qmc

from abm.analysis import experiments, replications
from abm.analysis.bands import bands
from abm.infra.errors import UserError
from abm.infra.executors import InProcess, executor
from abm.inputs.coefficients import Coefficients
from abm.inputs.datafiles import CALIBRATION_DIR, read_yaml
from abm.inputs.scenario import Scenario

TARGETS = CALIBRATION_DIR / "targets.yaml"
# name -> (section of the coefficients file, lower bound, upper bound): what one cross-section cannot
# identify, one parameter per fitted target it answers to, in ranges wide enough that no bound but a
# natural one (a share between 0 and 1) can hold a value. Habit, peers and the attitude dynamics keep
# their priors: no target speaks to them (the report's sensitivity table shows what they would move).
PARAMETERS: dict[str, tuple[str, float, float]] = {
    # constants of paying and of the lowest and top grades: re-set to the population's shares, as is
    # usual when a survey-estimated choice model is applied to a population with habit and herding
    "pay": ("choice", -8.0, 8.0),  # enrolment 2023
    "lowest": ("choice", -4.0, 8.0),  # the lowest grade's share 2018
    "highest": ("choice", -4.0, 8.0),  # the top grade's share 2018
    "backpay": ("choice", -8.0, 12.0),  # pensioners per participant 2023 (the launch cohort's back-payments)
    # how much of the account's value residents who do not understand compound interest miss (Song 2020)
    "compounding_gap": ("valuation", 0.0, 1.0),
}
EXPERIMENT_YEAR = 2018  # the field experiments are replayed in the survey year


INITIAL_STEP = 0.7  # first simplex edge, in logistic units of each parameter's range
SCREEN = 64  # Sobol points tried before the simplices start (at most a quarter of the budget, a power of 2)
STARTS = 3  # local searches, from the best screened points that lie apart
AT_BOUND = 0.01  # a fitted value within this share of its range from a bound is reported as on it
UNBOUNDED = 0.25  # a fitted value whose standard error exceeds this share of its range: the targets do not bound it
SCREEN_SEED = 20240102


@dataclass(frozen=True)
class Target:
    indicator: str
    year: int
    value: float
    tolerance: float
    source: str
    unit: str = ""
    fit: bool = True
    why: str = ""  # why a target is not fitted, or how to read a miss


def at_bound(values: dict[str, float], share: float = AT_BOUND) -> list[str]:
    """The fitted parameters within ``share`` of their range from either bound."""
    return [
        name
        for name, value in values.items()
        if min(value - PARAMETERS[name][1], PARAMETERS[name][2] - value)
        < share * (PARAMETERS[name][2] - PARAMETERS[name][1])
    ]


def unbounded(standard_errors: dict[str, float], share: float = UNBOUNDED) -> list[str]:
    """The fitted parameters the targets do not bound: a standard error above ``share`` of the range
    (the loss is flat along them: any value in a wide span fits as well)."""
    return [
        name for name, se in standard_errors.items() if not se <= share * (PARAMETERS[name][2] - PARAMETERS[name][1])
    ]


def load_targets(path: Path = TARGETS, known: set[str] | None = None) -> list[Target]:
    entries = (read_yaml(path) or {}).get("targets")
    if not isinstance(entries, list) or not entries:
        raise UserError("expected 'targets:' with a list of targets", file=path)
    targets = []
    for i, entry in enumerate(entries):
        try:
            target = Target(**entry)
        except TypeError as err:
            raise UserError(
                f"{err}; each target has indicator, year, value, tolerance, source", file=path, field=f"targets[{i}]"
            ) from None
        for name, kind, expected in (
            ("year", int, "a year, e.g. 2018"),
            ("value", (int, float), "a number"),
            ("tolerance", (int, float), "a number"),
        ):
            given = getattr(target, name)
            if isinstance(given, bool) or not isinstance(given, kind):  # YAML true/false are bools, not numbers
                raise UserError(f"expected {expected}, got {given!r}", file=path, field=f"targets[{i}].{name}")
            if not math.isfinite(given):
                raise UserError(f"expected a finite number, got {given!r}", file=path, field=f"targets[{i}].{name}")
        if known is not None and target.indicator not in known:
            raise UserError(f"unknown indicator {target.indicator!r}", file=path, field=f"targets[{i}].indicator")
        if not target.tolerance > 0:
            raise UserError("tolerance must be positive", file=path, field=f"targets[{i}].tolerance")
        targets.append(target)
    return targets


def with_coefficients(coefficients: Coefficients, values: dict[str, float]) -> Coefficients:
    """``coefficients`` with fitted PARAMETERS replaced, each in its section."""
    sections = {"choice": {}, "dynamics": {}, "valuation": {}, "heterogeneity": {}}
    for name, value in values.items():
        sections[PARAMETERS[name][0]][name] = float(value)
    return coefficients.replace(**sections)


def simulate(scenario: Scenario, coefficients: Coefficients, seeds: list[int], end_year: int) -> pd.DataFrame:
    """Time series of every seed (column ``run``), 2011 to ``end_year``, with these coefficients."""
    short = replications.resized(scenario, end_year=end_year, agents="none")
    frames = []
    for run, seed in enumerate(seeds):
        result = replications.run(short, seed=seed, coefficients=coefficients)
        frames.append(result.timeseries.assign(run=run))
    return pd.concat(frames, ignore_index=True)


def target_table(series: pd.DataFrame, targets: list[Target]) -> pd.DataFrame:
    """Each target with the simulated mean, its 90% band over runs, and whether it is met."""
    rows = []
    for t in targets:
        band = bands(series.loc[series["year"] == t.year, t.indicator].to_numpy())
        mean = float(band["mean"])
        rows.append(
            {
                "indicator": t.indicator,
                "year": t.year,
                "target": t.value,
                "tolerance": t.tolerance,
                "simulated": mean,
                "band_low": float(band["low"]),
                "band_high": float(band["high"]),
                "met": abs(mean - t.value) <= t.tolerance,
                "fitted": t.fit,
                "source": t.source,
                "why": t.why,
            }
        )
    return pd.DataFrame(rows)


def evidence_table(
    scenario: Scenario, coefficients: Coefficients, seed: int, replications: int, evidence: Path = experiments.EVIDENCE
) -> pd.DataFrame:
    """The field experiments replayed in EXPERIMENT_YEAR with the scenario's residents (one row per
    measure, as :func:`abm.analysis.experiments.run_all`), the replications spawned from ``seed``."""
    spec = scenario.model_copy(update={"run": scenario.run.model_copy(update={"seed": seed})})
    return experiments.run_all(
        spec, EXPERIMENT_YEAR, replications, scenario.population.residents, coefficients, evidence
    )


def evaluate(
    scenario: Scenario,
    coefficients: Coefficients,
    targets: list[Target],
    seeds: list[int],
    evidence_seed: int | None = None,
    evidence: Path = experiments.EVIDENCE,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One evaluation of the fit: the targets' table (:func:`target_table`) over the seeds' runs to
    the last target's year and, with an ``evidence_seed``, the field experiments' table
    (:func:`evidence_table`, as many replications as seeds)."""
    series = simulate(scenario, coefficients, seeds, max(t.year for t in targets))
    replayed = (
        None if evidence_seed is None else evidence_table(scenario, coefficients, evidence_seed, len(seeds), evidence)
    )
    return target_table(series, targets), replayed


def loss(table: pd.DataFrame, evidence: pd.DataFrame | None = None) -> float:
    fitted = table[table["fitted"]]
    total = float((((fitted["simulated"] - fitted["target"]) / fitted["tolerance"]) ** 2).sum())
    if evidence is not None:
        total += float((evidence.loc[evidence["fit"], "miss"] ** 2).sum())
    return total


@dataclass
class Fit:
    values: dict[str, float]
    loss: float
    evaluations: int
    history: list[float] = field(default_factory=list)
    # every local search: its start (the screened point's rank), values, loss and evaluations, best first
    optima: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class _Problem:
    """The loss as a function of the parameters in logistic units of their ranges (picklable: the
    local searches run in worker processes)."""

    scenario: Scenario
    start: Coefficients
    targets: list[Target]
    seeds: list[int]
    evidence_seed: int | None
    evidence: Path

    def values(self, z: np.ndarray) -> dict[str, float]:
        low, high = _ranges()
        return dict(zip(PARAMETERS, low + (high - low) * expit(z)))

    def loss(self, z: np.ndarray) -> float:
        return loss(
            *evaluate(
                self.scenario,
                with_coefficients(self.start, self.values(z)),
                self.targets,
                self.seeds,
                self.evidence_seed,
                self.evidence,
            )
        )


def _ranges() -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([low for _, low, _ in PARAMETERS.values()]),
        np.array([high for _, _, high in PARAMETERS.values()]),
    )


def _local_search(job: tuple[_Problem, np.ndarray, int, object]) -> dict:
    """Nelder-Mead from ``z0`` with ``budget`` evaluations; each evaluation's loss is put to ``report``
    (a queue, or a :class:`_Report`)."""
    problem, z0, budget, report = job
    history: list[float] = []

    def objective(z: np.ndarray) -> float:
        history.append(problem.loss(z))
        report.put(history[-1])
        return history[-1]

    # a simplex wide enough to step over the small plateaus that discrete choices make in the loss
    simplex = np.vstack([z0, z0 + INITIAL_STEP * np.eye(z0.size)])
    result = minimize(
        objective,
        z0,
        method="Nelder-Mead",
        options={"maxfev": budget, "xatol": 1e-3, "fatol": 1e-3, "initial_simplex": simplex},
    )
    return {"z": result.x, "loss": float(result.fun), "evaluations": len(history), "history": history}


def _screen_point(job: tuple[_Problem, np.ndarray]) -> float:
    problem, z = job
    return problem.loss(z)


def fit(
    scenario: Scenario,
    start: Coefficients,
    targets: list[Target],
    seeds: list[int],
    budget: int,
    on_evaluation=lambda n, best: None,
    evidence_seed: int | None = None,
    evidence: Path = experiments.EVIDENCE,
    workers: int = 1,
) -> Fit:
    """A global search over PARAMETERS within their bounds: the current values and a scrambled Sobol
    design of SCREEN points over the bounds are evaluated, then Nelder-Mead runs from each of the
    STARTS best screened points that lie apart (the loss has several valleys; a single simplex stays
    in the first it finds), the rest of the budget shared among them; the best local optimum wins
    and every optimum is kept, so the report can say whether others come close. With an
    ``evidence_seed`` the field experiments of ``evidence`` count in the loss (as many replications as
    ``seeds``). The result does not depend on ``workers`` (screened points and local searches run in
    parallel; each is deterministic)."""
    problem = _Problem(scenario, start, targets, seeds, evidence_seed, evidence)
    low, high = _ranges()
    current = np.array([getattr(start, section)[name] for name, (section, _, _) in PARAMETERS.items()])
    starts = [logit(np.clip((current - low) / (high - low), 0.02, 0.98))]
    screen = min(SCREEN, budget // 4)
    if screen:  # a power of two keeps the Sobol points balanced
        design = qmc.Sobol(len(PARAMETERS), scramble=True, seed=SCREEN_SEED).random_base2(int(math.log2(screen)))
        starts += list(logit(np.clip(design, 0.02, 0.98)))
    history: list[float] = []

    def record(value: float) -> None:
        history.append(value)
        on_evaluation(len(history), min(history))

    with executor(workers, preload=["abm.analysis.fitting.aggregates"]) as evaluations:
        screened = []
        for value in evaluations.map(_screen_point, [(problem, z) for z in starts]):
            screened.append(value)
            record(value)
        left = budget - len(history)
        chosen = _apart(starts, screened, STARTS)
        if left < len(chosen) * (len(PARAMETERS) + 1):  # no budget for a simplex: the best screened point
            best = int(np.argmin(screened))
            only = {"start": 0, "values": problem.values(starts[best]), "loss": screened[best], "evaluations": 1}
            return Fit(only["values"], only["loss"], len(history), history, [only])
        jobs = [(problem, starts[i], left // len(chosen)) for i in chosen]
        results = _searches(jobs, evaluations, record)
    optima = sorted(
        (
            {"start": rank, "values": problem.values(r["z"]), "loss": r["loss"], "evaluations": r["evaluations"]}
            for rank, r in enumerate(results)
        ),
        key=lambda o: o["loss"],
    )
    return Fit(optima[0]["values"], optima[0]["loss"], len(history), history, optima)


def _apart(points: list[np.ndarray], losses: list[float], count: int, distance: float = 1.0) -> list[int]:
    """Indices of the ``count`` lowest-loss points, each at least ``distance`` (logistic units, the
    largest coordinate difference) from those chosen before it."""
    chosen: list[int] = []
    for index in np.argsort(losses, kind="stable"):
        if all(np.max(np.abs(points[index] - points[c])) >= distance for c in chosen):
            chosen.append(int(index))
        if len(chosen) == count:
            break
    return chosen


class _Report:
    """Where a local search reports each evaluation's loss: a callback in this process."""

    def __init__(self, record) -> None:
        self.put = record


def _searches(jobs: list[tuple], evaluations: Executor, record) -> list[dict]:
    """The local searches' results in the order of ``jobs``; every evaluation's loss goes to ``record``
    as it happens (in this process directly, from worker processes through a managed queue)."""
    if isinstance(evaluations, InProcess):
        return [_local_search((*job, _Report(record))) for job in jobs]
    with multiprocessing.Manager() as manager:
        queue = manager.Queue()
        futures = [evaluations.submit(_local_search, (*job, queue)) for job in jobs]
        while not all(f.done() for f in futures) or not queue.empty():
            with suppress(Empty):
                record(queue.get(timeout=0.2))
        return [f.result() for f in futures]
