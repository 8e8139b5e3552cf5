"""Fitting what a survey cannot identify to published aggregates and field experiments, by simulated moments.

The loss is the sum over fitted targets of ((simulated mean - target) / tolerance)^2, plus for
each fitted field experiment (calibration/evidence.yaml, replayed by abm/experiments.py) its miss
in tolerances squared (0 while a bound holds); every mean is taken over a fixed set of seeds
(common random numbers, so the loss is a smooth-enough, deterministic function of the
parameters). Nelder-Mead searches in a logistic transform of each parameter's bounds, from the
best of the current values and a scrambled Sobol design over the bounds (the loss has several
valleys: a single simplex stays in the first it finds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from scipy.stats import qmc

from abm import experiments, runner
from abm.choice import Coefficients
from abm.datafiles import CALIBRATION_DIR, read_yaml
from abm.errors import UserError
from abm.scenario import Scenario

TARGETS = CALIBRATION_DIR / "targets.yaml"
# name -> (section of the coefficients file, lower bound, upper bound)
PARAMETERS: dict[str, tuple[str, float, float]] = {
    "inertia": ("choice", 0.0, 4.0),
    "peer_share": ("choice", 0.0, 4.0),
    # constants of paying and of the lowest grade: re-set to the population's shares, as is usual
    # when a survey-estimated choice model is applied to a population with habit and herding
    "pay": ("choice", -4.0, 4.0),
    "lowest": ("choice", -2.0, 4.0),
    "awareness_publicity": ("dynamics", 0.0, 0.5),
    "awareness_decay": ("dynamics", 0.0, 0.3),
    "trust_service": ("dynamics", 0.0, 0.3),
    # how much of the account's value residents who do not understand compound interest miss (Song 2020)
    "compounding_gap": ("valuation", 0.0, 0.95),
}
EXPERIMENT_YEAR = 2018     # the field experiments are replayed in the survey year


INITIAL_STEP = 0.7   # first simplex edge, in logistic units of each parameter's range
SCREEN = 32          # Sobol points tried before the simplex starts (at most a quarter of the budget, a power of 2)
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
    why: str = ""          # why a target is not fitted, or how to read a miss


def load_targets(path: Path = TARGETS, known: set[str] | None = None) -> list[Target]:
    entries = (read_yaml(path) or {}).get("targets")
    if not isinstance(entries, list) or not entries:
        raise UserError("expected 'targets:' with a list of targets", file=path)
    targets = []
    for i, entry in enumerate(entries):
        try:
            target = Target(**entry)
        except TypeError as err:
            raise UserError(f"{err}; each target has indicator, year, value, tolerance, source",
                            file=path, field=f"targets[{i}]") from None
        for name, kind, expected in (("year", int, "a year, e.g. 2018"), ("value", (int, float), "a number"),
                                     ("tolerance", (int, float), "a number")):
            given = getattr(target, name)
            if isinstance(given, bool) or not isinstance(given, kind):   # YAML true/false are bools, not numbers
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
    short = scenario.model_copy(update={"end_year": end_year, "population": scenario.population.model_copy(
        update={"agents": "none"})})
    frames = []
    for run, seed in enumerate(seeds):
        result = runner.run(short, seed=seed, coefficients=coefficients)
        frames.append(result.timeseries.assign(run=run))
    return pd.concat(frames, ignore_index=True)


def target_table(series: pd.DataFrame, targets: list[Target]) -> pd.DataFrame:
    """Each target with the simulated mean, its 90% band over runs, and whether it is met."""
    rows = []
    for t in targets:
        values = series.loc[series["year"] == t.year, t.indicator].to_numpy()
        mean = float(values.mean())
        rows.append({"indicator": t.indicator, "year": t.year, "target": t.value, "tolerance": t.tolerance,
                     "simulated": mean, "band_low": float(np.quantile(values, 0.05)),
                     "band_high": float(np.quantile(values, 0.95)),
                     "met": abs(mean - t.value) <= t.tolerance, "fitted": t.fit, "source": t.source,
                     "why": t.why})
    return pd.DataFrame(rows)


def evidence_table(scenario: Scenario, coefficients: Coefficients, seed: int, replications: int,
                   evidence: Path = experiments.EVIDENCE) -> pd.DataFrame:
    """The field experiments replayed in EXPERIMENT_YEAR with the scenario's residents (one row per
    measure, as :func:`abm.experiments.run_all`), the replications spawned from ``seed``."""
    spec = scenario.model_copy(update={"run": scenario.run.model_copy(update={"seed": seed})})
    return experiments.run_all(spec, EXPERIMENT_YEAR, replications, scenario.population.residents, coefficients,
                               evidence)


def evaluate(scenario: Scenario, coefficients: Coefficients, targets: list[Target], seeds: list[int],
             evidence_seed: int | None = None, evidence: Path = experiments.EVIDENCE
             ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One evaluation of the fit: the targets' table (:func:`target_table`) over the seeds' runs to
    the last target's year and, with an ``evidence_seed``, the field experiments' table
    (:func:`evidence_table`, as many replications as seeds)."""
    series = simulate(scenario, coefficients, seeds, max(t.year for t in targets))
    replayed = (None if evidence_seed is None
                else evidence_table(scenario, coefficients, evidence_seed, len(seeds), evidence))
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


def fit(scenario: Scenario, start: Coefficients, targets: list[Target], seeds: list[int],
        budget: int, on_evaluation=lambda n, best: None, evidence_seed: int | None = None,
        evidence: Path = experiments.EVIDENCE) -> Fit:
    """Nelder-Mead over PARAMETERS within their bounds, from the current values; with an
    ``evidence_seed`` the field experiments of ``evidence`` count in the loss (as many
    replications as ``seeds``)."""
    names = list(PARAMETERS)
    low = np.array([PARAMETERS[n][1] for n in names])
    high = np.array([PARAMETERS[n][2] for n in names])
    current = np.array([getattr(start, PARAMETERS[n][0])[n] for n in names])
    history: list[float] = []

    def to_values(z: np.ndarray) -> dict[str, float]:
        return dict(zip(names, low + (high - low) * expit(z)))

    def objective(z: np.ndarray) -> float:
        history.append(loss(*evaluate(scenario, with_coefficients(start, to_values(z)), targets, seeds,
                                      evidence_seed, evidence)))
        on_evaluation(len(history), min(history))
        return history[-1]

    share = np.clip((current - low) / (high - low), 0.02, 0.98)
    starts = [logit(share)]
    screen = min(SCREEN, budget // 4)
    if screen:   # a power of two keeps the Sobol points balanced
        design = qmc.Sobol(len(names), scramble=True, seed=SCREEN_SEED).random_base2(int(math.log2(screen)))
        starts += list(logit(np.clip(design, 0.02, 0.98)))
    losses = [objective(z) for z in starts]
    z0 = starts[int(np.argmin(losses))]
    # a simplex wide enough to step over the small plateaus that discrete choices make in the loss
    simplex = np.vstack([z0, z0 + INITIAL_STEP * np.eye(z0.size)])
    z_best, loss_best = z0, min(losses)
    left = budget - len(history)
    if left > 0:   # the simplex starts at z0, so its best is never worse
        result = minimize(objective, z0, method="Nelder-Mead",
                          options={"maxfev": left, "xatol": 1e-3, "fatol": 1e-3, "initial_simplex": simplex})
        z_best, loss_best = result.x, float(result.fun)
    return Fit(to_values(z_best), loss_best, len(history), history)
