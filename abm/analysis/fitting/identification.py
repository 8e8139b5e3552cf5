"""What the calibration's targets identify: local sensitivities, and the lowest-grade share by mechanism.

Both work on the fitted model with the fit's own common random numbers, so a difference is the
parameter's or the mechanism's effect alone, not sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from abm.analysis.fitting import aggregates
from abm.inputs.coefficients import TERMS, Coefficients
from abm.inputs.scenario import Scenario
from abm.sim.choice import MECHANISMS

STEP = 0.05  # a fitted parameter moves by this share of its range (each way)
COVARIANCE_STEP = 0.02  # the same for the fit's curvature
RELATIVE_STEP = 0.1  # a survey estimate moves by this share of its value (each way)
SURVEY_PARAMETERS = ("basic_value", "account_value", "affordability", "subsidy")  # survey terms the evidence speaks to
# priors no target fits, by section: the table shows what each would move
PRIORS = {
    "inertia": "choice",
    "peer_share": "choice",
    "awareness_publicity": "dynamics",
    "awareness_decay": "dynamics",
    "trust_service": "dynamics",
    "discount_rate": "valuation",
    "pivot_horizon": "valuation",
    "liquidity_sd": "heterogeneity",
}


Evaluate = Callable[[Coefficients], pd.Series]


def moments(scenario: Scenario, targets: list[aggregates.Target], seeds: list[int], evidence_seed: int) -> Evaluate:
    """A function of the coefficients giving every fitted target's simulated mean (time-series
    targets as ``indicator year``, experiments as ``experiment.measure``), evaluated as the fit
    evaluates (:func:`abm.analysis.fitting.aggregates.evaluate`)."""
    fitted = [t for t in targets if t.fit]

    def evaluate(coefficients: Coefficients) -> pd.Series:
        table, evidence = aggregates.evaluate(scenario, coefficients, fitted, seeds, evidence_seed)
        return _by_target(table, "simulated", evidence, "mean")

    return evaluate


def tolerances(targets: list[aggregates.Target], evidence: pd.DataFrame) -> pd.Series:
    """Each fitted target's tolerance, named as :func:`moments` names its values."""
    table = pd.DataFrame(
        [{"indicator": t.indicator, "year": t.year, "tolerance": t.tolerance} for t in targets if t.fit]
    )
    return _by_target(table, "tolerance", evidence, "tolerance").astype(float)


def _by_target(table: pd.DataFrame, column: str, evidence: pd.DataFrame, evidence_column: str) -> pd.Series:
    """One column of the targets' table and one of the fitted experiments', named by target."""
    values = {f"{row.indicator} {row.year}": getattr(row, column) for row in table.itertuples()}
    values |= {
        f"{row.experiment}.{row.measure}": getattr(row, evidence_column)
        for row in evidence[evidence["fit"]].itertuples()
    }
    return pd.Series(values)


def sensitivities(evaluate: Evaluate, coefficients: Coefficients, scale: pd.Series) -> pd.DataFrame:
    """Central differences of every target with respect to every parameter, in the target's
    tolerances per step: a fitted parameter steps by STEP of its range, a survey estimate or a
    valuation prior by RELATIVE_STEP of its value. Rows: parameters (with their step); columns: targets.

    Args:
        evaluate: the targets' simulated means as a function of the coefficients (:func:`moments`).
        coefficients: where the derivatives are taken (the fitted ones).
        scale: each target's tolerance (a miss that costs one unit of the loss).
    """
    rows = {}
    for name, section, step in _parameters(coefficients):
        value = getattr(coefficients, section)[name]
        up, down = (_with(coefficients, section, name, value + sign * step) for sign in (1, -1))
        rows[f"{name} ±{step:.3g}"] = (evaluate(up) - evaluate(down)) / 2 / scale
    return pd.DataFrame(rows).T


def _parameters(coefficients: Coefficients) -> list[tuple[str, str, float]]:
    """(name, section, step) of every parameter the sensitivities cover."""
    found = [(name, section, STEP * (high - low)) for name, (section, low, high) in aggregates.PARAMETERS.items()]
    found += [
        (name, "choice", RELATIVE_STEP * abs(coefficients.choice[name]) or RELATIVE_STEP)
        for name in SURVEY_PARAMETERS
        if name not in aggregates.PARAMETERS
    ]
    found += [
        (name, section, RELATIVE_STEP * abs(getattr(coefficients, section)[name]) or RELATIVE_STEP)
        for name, section in PRIORS.items()
        if name not in aggregates.PARAMETERS
    ]
    return found


def fit_covariance(
    evaluate: Evaluate, coefficients: Coefficients, scale: pd.Series, step: float = COVARIANCE_STEP
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fitted parameters' covariance from the loss's curvature (Gauss-Newton): with each
    target's tolerance read as the standard deviation of its observation, cov = (J'J)^-1, J the
    derivatives of the targets in tolerances per unit of each parameter (central differences of
    ``step`` x its range, on the fit's own random numbers). Only targets with a value count (a bound
    that holds has no slope); a parameter the targets cannot tell apart from others shows as a
    singular J'J, and the pseudo-inverse then gives it no variance from the targets.

    Args:
        evaluate: the targets' simulated means as a function of the coefficients (:func:`moments`).
        coefficients: the fitted coefficients.
        scale: each value target's tolerance, named as ``evaluate`` names them.
    Returns:
        the covariance (parameters x parameters, in their units) and J (targets x parameters).
    """
    columns = {}
    for name, (section, low, high) in aggregates.PARAMETERS.items():
        value, delta = getattr(coefficients, section)[name], step * (high - low)
        up, down = (_with(coefficients, section, name, min(max(value + sign * delta, low), high)) for sign in (1, -1))
        width = min(value + delta, high) - max(value - delta, low)
        columns[name] = ((evaluate(up) - evaluate(down)) / width)[scale.index] / scale
    jacobian = pd.DataFrame(columns)
    information = jacobian.to_numpy().T @ jacobian.to_numpy()
    covariance = np.linalg.pinv(information, rcond=1e-10, hermitian=True)
    return pd.DataFrame(covariance, index=jacobian.columns, columns=jacobian.columns), jacobian


def _with(coefficients: Coefficients, section: str, name: str, value: float) -> Coefficients:
    return coefficients.replace(**{section: {name: value}})


def lowest_grade_decomposition(
    scenario: Scenario, coefficients: Coefficients, seeds: list[int], year: int
) -> pd.DataFrame:
    """The lowest-grade share of payers in ``year`` with every mechanism, and without each one
    that tells grades apart (its terms' coefficients set to 0, everything else and the random
    numbers the same; the mechanisms of paying at all, "paying" and "basic", are left out).

    Returns:
        one row per mechanism with a nonzero term: the share without it and what it accounts for
        (share with all - share without). Knock-outs interact, so the parts need not add up.
    """

    def share(c: Coefficients) -> float:
        series = aggregates.simulate(scenario, c, seeds, year)
        return float(series.loc[series["year"] == year, "lowest_grade_share"].mean())

    full = share(coefficients)
    rows = [{"mechanism": "all (fitted model)", "terms": "", "lowest_grade_share": full, "accounts_for": 0.0}]
    for mechanism, terms in MECHANISMS.items():
        active = [t for t in terms if coefficients.choice[t] != 0 and TERMS[t][1] != "pay"]
        if not active:
            continue
        without = share(coefficients.replace(choice=dict.fromkeys(active, 0.0)))
        rows.append(
            {
                "mechanism": mechanism,
                "terms": ", ".join(active),
                "lowest_grade_share": without,
                "accounts_for": full - without,
            }
        )
    return pd.DataFrame(rows)
