"""Virtual experiments: published field experiments replayed through the model's own code, with common random numbers.

Each experiment, treated against control, runs the scenario's own :class:`~abm.sim.model.PensionModel`
year by year with the replication seeds of :func:`abm.inputs.scenario.replication_seeds` and returns one effect per
replication, so a band can be given. Treatments change the scenario's policy from a year on (the
same seeds with and without), or, for the information experiment, a random half of one run's
residents (treated and control in the same run). The targets they are held against live in
``abm/calibration/evidence.yaml`` (docs/domain.md section 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abm.analysis.bands import bands
from abm.analysis.replications import resized
from abm.infra.errors import UserError
from abm.infra.executors import executor
from abm.inputs.coefficients import Coefficients
from abm.inputs.datafiles import CALIBRATION_DIR, period, read_yaml
from abm.inputs.dated import value_at
from abm.inputs.scenario import Scenario, replication_seeds
from abm.sim.attitudes import EDUCATION_AGES as TAUGHT_AGES  # whom the treatment reaches, as the policy lever
from abm.sim.model import PensionModel

EVIDENCE = CALIBRATION_DIR / "evidence.yaml"
WINDOW = 3  # years of outcome after a policy change: year .. year + 2
YEARS_AFTER = WINDOW - 1  # years the scenario must run past the experiment's year


def check_year(scenario: Scenario, year: int, field: str = "year") -> None:
    """The experiments' year must leave the years they need: from the start year to end_year - 2.

    Raises:
        UserError: naming ``field``, with the years allowed.
    """
    last = scenario.end_year - YEARS_AFTER
    if not scenario.start_year <= year <= last:
        raise UserError(
            f"the experiments need the year and the {YEARS_AFTER} years after it within the scenario's "
            f"{scenario.start_year}-{scenario.end_year}: allowed {scenario.start_year}-{last} "
            f"(got {year})",
            field=field,
        )


def information(
    scenario: Scenario, year: int, replications: int, residents: int, coefficients: Coefficients | None = None
) -> np.ndarray:
    """Song (2020): compound interest explained to a random half of the residents aged 16-59.

    Each replication runs the scenario twice with the same seed to the end of ``year - 1``; before
    the choices of ``year`` a seeded random half of the residents then aged 16-59 learn compound
    interest (``literate``) in one of the two runs only. The outcome is the mean own contribution in
    ``year + 1`` of the treated half, those still aged 16-59 and eligible to pay (a non-payer counts
    0; residents the government pays for are left out), in the run that taught them against the
    run that did not: the same residents with the same random draws, so the difference is the
    treatment's effect alone (the randomised comparison of the study, without the noise of
    comparing two different halves).

    Args:
        scenario: the scenario (its policy, behaviour and run.seed).
        year: the year of the treatment.
        replications: runs with spawned seeds (two simulations each).
        residents: simulated residents aged 16+ at the start.
        coefficients: behaviour replacing the scenario's coefficients file.
    Returns:
        treated mean / the same residents' mean untaught - 1, per replication.
    """
    check_year(scenario, year)
    spec = resized(scenario, year + 1, residents)
    effects = []
    for seed in _seeds(scenario, replications):
        means = []
        for teach in (True, False):
            model = PensionModel(scenario=spec, rng=seed, coefficients=coefficients)
            _run_to(model, year)
            pop = model.population
            candidates = pop.id[(pop.age >= TAUGHT_AGES[0]) & (pop.age <= TAUGHT_AGES[1])]
            drawn = np.random.default_rng([seed, year]).permutation(candidates)  # apart from the model's stream
            treated_ids = drawn[: candidates.size // 2]
            if teach:
                pop.literate = pop.literate | np.isin(pop.id, treated_ids)
            _run_to(model, year + 2)
            # after the step of year + 1: choices stand, ages have moved on by one
            pop = model.population
            age = pop.age - 1
            sample = (pop.choice >= 0) & ~pop.gov_paid & (age >= TAUGHT_AGES[0]) & (age <= TAUGHT_AGES[1])
            means.append(np.maximum(pop.choice, 0.0)[sample & np.isin(pop.id, treated_ids)].mean())
        effects.append(means[0] / means[1] - 1)
    return np.array(effects)


@dataclass(frozen=True)
class PolicyEffect:
    """Treated against control, per replication, over the outcome window."""

    participation: np.ndarray  # difference in the mean participation rate, percentage points
    participation_relative: np.ndarray  # treated / control - 1
    contribution_relative: np.ndarray  # mean contribution, treated / control - 1
    treatment_relative: float  # the treatment's relative size (see each experiment)


def basic_pension(
    scenario: Scenario,
    year: int,
    replications: int,
    residents: int,
    coefficients: Coefficients | None = None,
    rise: float = 20.0,
) -> PolicyEffect:
    """Lin & Zhang (2020): ``rise`` yuan/month more basic pension from ``year``, paid as a local
    top-up added to the one in force (every dated ``policy.local_top_up`` from January of ``year`` on
    is raised by ``rise``), against the same seeds without it; outcomes over ``year``..``year + 2``.

    Args:
        rise: yuan/month.
    Returns:
        the effects; ``treatment_relative`` is ``rise`` over the monthly basic pension incl. top-up
        of ``year`` (the national minimum at the end of the year), so the elasticity is
        ``participation_relative / treatment_relative``.
    """
    check_year(scenario, year)
    raised = _raised(scenario.policy.local_top_up, year, lambda amount: amount + rise)
    treated = scenario.model_copy(update={"policy": scenario.policy.model_copy(update={"local_top_up": raised})})
    effect = _policy_effect(scenario, treated, year, replications, residents, coefficients)
    probe = PensionModel(scenario=resized(scenario, year, 100), coefficients=coefficients)
    in_force = probe.government.basic_pension[year] + value_at(scenario.policy.local_top_up, year)
    return PolicyEffect(
        effect.participation, effect.participation_relative, effect.contribution_relative, rise / in_force
    )


def subsidy(
    scenario: Scenario,
    year: int,
    replications: int,
    residents: int,
    coefficients: Coefficients | None = None,
    rise: float = 30.0,
) -> PolicyEffect:
    """Lin & Zhang (2020): ``rise`` yuan/year more on every rule of the subsidy schedule in force
    from ``year`` (and on every later dated schedule), against the same seeds without it; outcomes
    over ``year``..``year + 2``.

    Args:
        rise: yuan/year on every grade's subsidy.
    Returns:
        the effects; ``treatment_relative`` is ``rise`` over the lowest grade's subsidy in ``year``.
    """
    check_year(scenario, year)
    rules = scenario.policy.subsidy
    raised = _raised(rules, year, lambda schedule: [(grade, amount + rise) for grade, amount in schedule])
    treated = scenario.model_copy(update={"policy": scenario.policy.model_copy(update={"subsidy": raised})})
    effect = _policy_effect(scenario, treated, year, replications, residents, coefficients)
    lowest = min(value_at(rules, year))[1]
    return PolicyEffect(
        effect.participation,
        effect.participation_relative,
        effect.contribution_relative,
        rise / lowest if lowest else float("inf"),
    )


def age_profile(
    scenario: Scenario, year: int, replications: int, residents: int, coefficients: Coefficients | None = None
) -> np.ndarray:
    """The age gradient of take-up: participation_45_59 - participation_16_29 in ``year``, per
    replication (shares of the eligible in each band)."""
    check_year(scenario, year)
    spec = resized(scenario, year, residents)
    gaps = []
    for seed in _seeds(scenario, replications):
        row = _timeseries(spec, seed, coefficients).set_index("year").loc[year]
        gaps.append(row["participation_45_59"] - row["participation_16_29"])
    return np.array(gaps)


def run_all(
    scenario: Scenario,
    year: int,
    replications: int,
    residents: int,
    coefficients: Coefficients | None = None,
    evidence: Path = EVIDENCE,
    workers: int = 1,
) -> pd.DataFrame:
    """Every experiment, one row per measure: experiment, measure, mean, band_low, band_high (5th
    and 95th percentiles over replications), unit, target, tolerance, met, source.

    ``target`` is the evidence file's value (``tolerance`` around it) or its bound ("< 0.10",
    "> 0", or "< basic_pension.participation_points" for a measure of another experiment).
    The four experiments run on ``workers`` processes (at most four; the results do not depend on it:
    each draws from its own seeds).
    """
    check_year(scenario, year)
    targets = load_evidence(evidence)
    replays = (information, basic_pension, subsidy, age_profile)
    with executor(min(workers, len(replays)), preload=["abm.analysis.experiments"]) as pool:
        futures = [pool.submit(replay, scenario, year, replications, residents, coefficients) for replay in replays]
        info, basic, paid, gap = (future.result() for future in futures)
    measures = {
        ("information", "contribution_relative"): info,
        ("basic_pension", "participation_points"): basic.participation,
        ("basic_pension", "participation_elasticity"): basic.participation_relative / basic.treatment_relative,
        ("subsidy", "contribution_relative"): paid.contribution_relative,
        ("subsidy", "participation_points"): paid.participation,
        ("age_profile", "participation_gap"): gap,
    }
    stats = {key: bands(values) for key, values in measures.items()}
    means = {key: float(band["mean"]) for key, band in stats.items()}
    rows = []
    for (experiment, measure), band in stats.items():
        target = targets.get(f"{experiment}.{measure}", {})
        rows.append(
            {
                "experiment": experiment,
                "measure": measure,
                "mean": means[(experiment, measure)],
                "band_low": float(band["low"]),
                "band_high": float(band["high"]),
                "unit": target.get("unit", ""),
                "target": _target_text(target),
                "tolerance": target.get("tolerance"),
                "met": _met(target, means[(experiment, measure)], means),
                "miss": miss(target, means[(experiment, measure)], means),
                "fit": bool(target.get("fit", True)),
                "source": target.get("source", ""),
            }
        )
    return pd.DataFrame(rows)


def simulated_text(row) -> str:
    """A measure's simulated mean and 90% band as printed: "0.381 [0.317, 0.426]" (a row of :func:`run_all`)."""
    return f"{row.mean:.3f} [{row.band_low:.3f}, {row.band_high:.3f}]"


def miss(target: dict, mean: float, means: dict[tuple[str, str], float]) -> float:
    """How far the simulated mean is from meeting the target, in tolerances (0 when a bound holds,
    or without a target or tolerance): |mean - value| / tolerance, or the bound's violation / tolerance."""
    tolerance = target.get("tolerance")
    if not tolerance:
        return 0.0
    if "value" in target:
        return abs(mean - target["value"]) / tolerance
    return max(0.0, _beyond_bound(target["bound"], mean, means)) / tolerance


def _beyond_bound(bound, mean: float, means: dict[tuple[str, str], float]) -> float:
    """How far the mean lies on the wrong side of the bound (negative: inside it), in the mean's unit;
    a bound on another measure reads that measure's mean from ``means``."""
    operator, limit, absolute = _parse_bound(bound)
    if isinstance(limit, str):
        limit = means[tuple(limit.split("."))]
    value = abs(mean) if absolute else mean
    return (value - limit) if operator == "<" else (limit - value)


def load_evidence(path: Path = EVIDENCE) -> dict[str, dict]:
    """The evidence file's targets by measure (``experiment.measure``).

    Raises:
        UserError: a target without a known measure, or without exactly one of value and bound.
    """
    data = read_yaml(path)
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, list):
        raise UserError("expected a list of targets", file=path, field="targets")
    found = {}
    for index, target in enumerate(targets):
        field = f"targets.{index}"
        if not isinstance(target, dict) or target.get("measure") not in MEASURES:
            raise UserError(f"measure must be one of {', '.join(MEASURES)}", file=path, field=f"{field}.measure")
        if ("value" in target) == ("bound" in target):
            raise UserError("give either value (with tolerance) or bound", file=path, field=field)
        if "value" in target and not isinstance(target.get("tolerance"), int | float):
            raise UserError("a value needs a numeric tolerance", file=path, field=f"{field}.tolerance")
        if "tolerance" in target and not (
            isinstance(target["tolerance"], int | float)
            and not isinstance(target["tolerance"], bool)
            and target["tolerance"] > 0
        ):
            raise UserError(
                f"tolerance must be a positive number (got {target['tolerance']!r})",
                file=path,
                field=f"{field}.tolerance",
            )
        if not isinstance(target.get("fit", True), bool):
            raise UserError(f"fit must be true or false (got {target['fit']!r})", file=path, field=f"{field}.fit")
        if "bound" in target:
            _parse_bound(target["bound"], path, f"{field}.bound")
        found[target["measure"]] = target
    return found


MEASURES = (
    "information.contribution_relative",
    "basic_pension.participation_points",
    "basic_pension.participation_elasticity",
    "subsidy.contribution_relative",
    "subsidy.participation_points",
    "age_profile.participation_gap",
)


def _parse_bound(bound, path: Path | None = None, field: str = "bound") -> tuple[str, float | str, bool]:
    """A bound "< 0.10", "> 0", "|x| < 0.10" (absolute value) or "< experiment.measure":
    (operator, number or measure, on the absolute value)."""
    text = str(bound).strip()
    absolute = text.startswith("|x|")
    text = text.removeprefix("|x|").strip()
    operator, _, rest = text.partition(" ")
    rest = rest.strip()
    if operator not in ("<", ">") or not rest:
        raise UserError(
            f"a bound is '< number', '> number', '|x| < number' or '< experiment.measure' (got {bound!r})",
            file=path,
            field=field,
        )
    if rest in MEASURES:
        return operator, rest, absolute
    try:
        return operator, float(rest), absolute
    except ValueError:
        raise UserError(
            f"the bound's right side must be a number or one of {', '.join(MEASURES)} (got {rest!r})",
            file=path,
            field=field,
        ) from None


def _target_text(target: dict) -> str:
    """A value with its tolerance ("0.4 ± 0.15"), or the bound ("> 0")."""
    if "value" in target:
        return f"{target['value']:g} ± {target['tolerance']:g}"
    return str(target.get("bound", ""))


def _met(target: dict, mean: float, means: dict[tuple[str, str], float]) -> bool | None:
    """Whether the simulated mean meets the target (None: no target)."""
    if "value" in target:
        return bool(abs(mean - target["value"]) <= target["tolerance"])
    if "bound" not in target:
        return None
    return bool(_beyond_bound(target["bound"], mean, means) < 0)


def _policy_effect(
    control: Scenario,
    treated: Scenario,
    year: int,
    replications: int,
    residents: int,
    coefficients: Coefficients | None,
) -> PolicyEffect:
    """Treated against control with the same seeds; participation and mean contribution averaged
    over the window ``year``..``year + 2``."""
    window = list(range(year, year + WINDOW))
    points, participation, contribution = [], [], []
    for seed in _seeds(control, replications):
        base, new = (
            _timeseries(resized(spec, year + YEARS_AFTER, residents), seed, coefficients)
            .set_index("year")
            .loc[window]
            .mean()
            for spec in (control, treated)
        )
        points.append(100 * (new["participation_rate"] - base["participation_rate"]))
        participation.append(new["participation_rate"] / base["participation_rate"] - 1)
        contribution.append(new["mean_contribution"] / base["mean_contribution"] - 1)
    return PolicyEffect(np.array(points), np.array(participation), np.array(contribution), float("nan"))


def _raised(dated: dict, year: int, change) -> dict:
    """A dated value with ``change`` applied to the value in force in January of ``year`` (dated
    ``year``) and to every value dated later."""
    raised = {key: change(value) if period(key) >= (year, 1) else value for key, value in dated.items()}
    raised.setdefault(year, change(value_at(dated, year, 1)))
    return dict(sorted(raised.items(), key=lambda item: period(item[0])))


def _seeds(scenario: Scenario, replications: int) -> list[int]:
    return replication_seeds(scenario.run.seed, replications)


def _run_to(model: PensionModel, year: int) -> None:
    """Step the model until ``year`` is next (every year before it simulated)."""
    while model.year < year:
        model.step()


def _timeseries(spec: Scenario, seed: int, coefficients: Coefficients | None) -> pd.DataFrame:
    model = PensionModel(scenario=spec, rng=seed, coefficients=coefficients)
    _run_to(model, spec.end_year + 1)
    return model.datacollector.get_model_vars_dataframe().reset_index(drop=True).astype({"year": int})
