"""Scenario effects: each scenario against the first in one year over paired runs, and the mechanisms behind them.

The indicators' differences are :func:`abm.analysis.compare.table`'s (the same seeds, 90% bands). The
mechanisms are measured in the same runs, at the same year, before the year's choices are drawn
(:meth:`abm.sim.model.PensionModel.mechanisms`): the mean utility each adds to paying over not paying,
whose paired difference says which of them the scenario moved.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abm.analysis import compare, replications
from abm.analysis.bands import bands
from abm.infra.executors import executor
from abm.inputs.coefficients import Coefficients
from abm.inputs.loader import Override, load_scenario
from abm.inputs.scenario import Scenario, replication_seeds
from abm.sim import diagnostics
from abm.sim.choice import MECHANISMS
from abm.sim.model import PensionModel

INDICATORS = ("participation_rate", "lowest_grade_share", "mean_pension", "public_spending")
SECTIONS = ("policy", "economy", "behaviour")  # what a scenario may change besides its size and seeds
# What each mechanism stands for, as a sentence names it.
MEANINGS = {
    "cost": "the grades' cost against income",
    "basic": "the basic pension's value",
    "account": "the account's value",
    "subsidy": "the entry subsidy",
    "habit": "habit (paying as last year)",
    "peers": "neighbours' choices",
    "default": "the pull of the lowest and top grades",
    "paying": "attitudes to paying (awareness, trust, age, income, health)",
}
SHOWN = 2  # mechanisms named per scenario
STILL = 5e-4  # utility: a mean change below it is shown as none (+0.000)


@dataclass(frozen=True)
class Effects:
    """Effects of scenarios against the first, in one year."""

    year: int
    runs: int
    residents: int
    scenarios: list[Scenario]  # as run (first: the reference)
    differences: pd.DataFrame  # compare.table's rows at the year, for INDICATORS
    mechanisms: pd.DataFrame  # scenario, run, one column per mechanism (utility)
    seconds: float = 0.0  # wall time of the runs

    def mechanism_effects(self, scenario: str) -> pd.DataFrame:
        """Paired difference from the first scenario of each mechanism's utility of paying: mean and
        90% band over runs, the largest absolute mean first."""
        frame = self.mechanisms.set_index(["scenario", "run"])
        diff = frame.loc[scenario] - frame.loc[self.scenarios[0].name]
        table = bands(diff)
        return table.reindex(table["mean"].abs().sort_values(ascending=False, kind="stable").index)

    def difference(self, scenario: str, indicator: str) -> tuple[float, float, float]:
        """Mean paired difference from the first scenario and its 90% band."""
        row = self.differences.set_index(["scenario", "indicator"]).loc[(scenario, indicator)]
        return float(row["difference"]), float(row["difference_low"]), float(row["difference_high"])

    def level(self, scenario: str, indicator: str) -> float:
        """Mean over runs of an indicator in the year."""
        return float(self.differences.set_index(["scenario", "indicator"]).loc[(scenario, indicator), "mean"])


def changes(reference: Scenario, scenario: Scenario) -> list[str]:
    """The fields (``section.field``) a scenario sets otherwise than the reference, resolved."""
    out = []
    for section in SECTIONS:
        mine, theirs = getattr(scenario, section).model_dump(), getattr(reference, section).model_dump()
        out += [f"{section}.{name}" for name in mine if mine[name] != theirs.get(name)]
    return out


def measure(
    sources: Sequence[str | Path],
    year: int,
    runs: int,
    residents: int,
    workers: int = 1,
    overrides: Sequence[Override] = (),
) -> Effects:
    """Run each scenario file to ``year`` with the seeds of the first, and measure its effects.

    Args:
        sources: scenario files; the first is the reference (the baseline).
        year: the year compared (the runs end there).
        runs: paired replications per scenario.
        residents: simulated residents aged 16+ at the start.
        workers: processes running replications.
        overrides: applied to every scenario after its size and years.
    """
    first = load_scenario(sources[0])
    size = [
        ("end_year", year),
        ("population.residents", residents),
        ("population.agents", "none"),
        ("run.seed", first.run.seed),
    ]
    scenarios = [load_scenario(source, [*size, *overrides]) for source in sources]
    seeds = replication_seeds(first.run.seed, runs)
    started = time.perf_counter()
    done = _map(workers, replicate, [job for scenario in scenarios for job in replications.jobs_for(scenario, seeds)])
    entries, frames = [], []
    for number, scenario in enumerate(scenarios):
        mine = done[number * runs : (number + 1) * runs]
        timeseries = pd.concat([frame.assign(run=run) for run, (frame, _) in enumerate(mine)], ignore_index=True)
        entries.append(compare.Entry(scenario.name, timeseries, [year]))
        frames.append(pd.DataFrame([utility for _, utility in mine]).assign(scenario=scenario.name, run=range(runs)))
    return Effects(
        year,
        runs,
        residents,
        scenarios,
        compare.table(entries, INDICATORS),
        pd.concat(frames, ignore_index=True)[["scenario", "run", *MECHANISMS]],
        time.perf_counter() - started,
    )


def replicate(job: tuple[Scenario, int, Coefficients | None]) -> tuple[pd.DataFrame, dict[str, float]]:
    """One replication of a scenario ending in the year compared: its indicators (as
    :func:`abm.analysis.replications.simulate`) and, from a second model with the same seed, its
    choosers' mean utility of paying by mechanism in that year, measured as the year's choices are
    drawn in the first."""
    scenario, seed, coefficients = job
    model = PensionModel(scenario=scenario, rng=seed, coefficients=coefficients)
    while model.year < scenario.end_year:
        model.step()
    return replications.simulate(job), diagnostics.mechanisms(model)


def _map(workers: int, function, jobs: list) -> list:
    with executor(min(workers, len(jobs)), preload=["abm.analysis.effects"]) as runs:
        return list(runs.map(function, jobs))


def mechanism_sentence(effects: Effects, scenario: str, shown: int = SHOWN) -> str:
    """The fields the scenario changes, and the mechanisms whose utility of paying moved most in the
    year (paired mean and 90% band): those whose band leaves out 0; if none does, the largest, as
    noise; if none moved at all, that the choice did not move."""
    index = [s.name for s in effects.scenarios].index(scenario)
    fields = changes(effects.scenarios[0], effects.scenarios[index])
    lead = f"changes {', '.join(f'`{f}`' for f in fields)}" if fields else "changes no policy field"
    table = effects.mechanism_effects(scenario)
    if not (table["mean"].abs() >= STILL).any():
        return f"{lead}; the choice's mechanisms did not move in {effects.year} (the effect is the rules' own)"
    moved = table[(table["low"] > 0) | (table["high"] < 0)].head(shown)
    if not len(moved):
        return (
            f"{lead}; no mechanism's utility of paying moved beyond the runs' noise in {effects.year} "
            f"(largest: {_described(table.head(1))})"
        )
    return f"{lead}; utility of paying over not paying in {effects.year} moved most through {_described(moved)}"


def _described(table: pd.DataFrame) -> str:
    return " and ".join(
        f"{MEANINGS[name]} ({_signed(row['mean'])} [{_signed(row['low'])}, {_signed(row['high'])}])"
        for name, row in table.iterrows()
    )


def _signed(value: float) -> str:
    return f"{value:+.3f}" if np.isfinite(value) else "n/a"


def lever_effects(
    source: str | Path,
    levers: dict[str, Sequence[Override]],
    years: tuple[int, int],
    runs: int,
    residents: int,
    indicators: Sequence[str],
    workers: int = 1,
    spans: dict[str, tuple[int, int]] | None = None,
    coefficients: Coefficients | None = None,
    overrides: Sequence[Override] = (),
) -> pd.DataFrame:
    """Each lever (overrides of one scenario) against the scenario itself over a span of years,
    paired by seed: the mean over the years of each indicator, its paired difference and 90% band.

    Args:
        source: the scenario file the levers change.
        levers: label -> overrides (``path=value``).
        years: first and last year of the span averaged (the runs end at the last).
        runs: paired replications.
        residents: simulated residents aged 16+ at the start.
        indicators: time-series columns compared.
        workers: processes running replications.
        spans: a lever's own span of years (within ``years``), where it is not ``years``.
        coefficients: behaviour replacing the scenario's (no replication then draws its own).
        overrides: applied to the scenario before its size and each lever.
    Returns:
        rows of lever, indicator, reference (the scenario's mean level over the lever's span),
        difference, low, high.
    """
    size = [*overrides, ("end_year", years[1]), ("population.residents", residents), ("population.agents", "none")]
    reference = load_scenario(source, size)
    scenarios = [reference, *(load_scenario(source, [*size, *lever]) for lever in levers.values())]
    seeds = replication_seeds(reference.run.seed, runs)
    done = _map(
        workers,
        replications.simulate,
        [job for scenario in scenarios for job in replications.jobs_for(scenario, seeds, coefficients)],
    )

    def means(number: int, span: tuple[int, int]) -> pd.DataFrame:  # runs x indicators: the span's mean per run
        return pd.DataFrame(
            [
                frame.set_index("year").loc[span[0] : span[1], list(indicators)].mean()
                for frame in done[number * runs : (number + 1) * runs]
            ]
        )

    rows = []
    for number, label in enumerate(levers, start=1):
        span = (spans or {}).get(label, years)
        base = means(0, span)
        diff = means(number, span) - base
        for name in indicators:
            stats = bands(diff[name])
            rows.append(
                {
                    "lever": label,
                    "indicator": name,
                    "reference": float(base[name].mean()),
                    "difference": float(stats["mean"]),
                    "low": float(stats["low"]),
                    "high": float(stats["high"]),
                }
            )
    return pd.DataFrame(rows)
