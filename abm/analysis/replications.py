"""Running a scenario's replications (in parallel if asked) and writing its results folder."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from abm.analysis import cohorts, plots, uncertainty
from abm.analysis.bands import bands
from abm.infra import atomic, destinations, memory, progress
from abm.infra.executors import executor
from abm.inputs.coefficients import Coefficients
from abm.inputs.county import county_path, load_county
from abm.inputs.datafiles import read_parquet
from abm.inputs.scenario import Scenario, replication_seeds
from abm.sim.demography import load_observations
from abm.sim.model import PensionModel
from abm.sim.outcomes import KEY_INDICATORS  # in the printed and saved summary, and in comparisons

PACKAGES = ("mesa", "numpy", "pandas", "scipy", "pydantic", "pension-abm")


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    seed: int  # the base seed the replication seeds were spawned from
    seeds: list[int]  # one per replication
    timeseries: pd.DataFrame  # one row per replication and year: run, year, indicators
    seconds: float
    cohorts: pd.DataFrame | None = None  # money's worth by cohort and grade, per run (cohorts.py), with ``run``

    @property
    def runs(self) -> int:
        return len(self.seeds)

    def bands(self) -> pd.DataFrame:
        """Mean and 90% band (5th and 95th percentiles) of every indicator per year over replications
        (long format: indicator, year, mean, low, high)."""
        values = self.timeseries.drop(columns="run").melt(id_vars="year", var_name="indicator")
        return bands(values.groupby(["indicator", "year"], sort=False)["value"]).reset_index()

    def summary(self) -> dict:
        years = self.scenario.report_years
        stats = self.bands().set_index(["indicator", "year"])
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "runs": self.runs,
            "years": [self.scenario.start_year, self.scenario.end_year],
            "indicators": {name: {str(y): stats.loc[(name, y)].to_dict() for y in years} for name in KEY_INDICATORS},
        }


def run(
    scenario: Scenario,
    seed: int | None = None,
    runs: int | None = None,
    workers: int = 1,
    progress: bool = False,
    coefficients: Coefficients | None = None,
) -> RunResult:
    """Simulate ``runs`` replications of ``scenario`` (default: its run section).

    ``seed`` replaces the scenario's base seed; ``workers`` > 1 runs replications in parallel
    processes with identical results; ``coefficients`` replaces the scenario's behaviour (and then
    no replication draws its own: abm/analysis/uncertainty.py).
    """
    seed = scenario.run.seed if seed is None else seed
    seeds = replication_seeds(seed, runs or scenario.run.replications)
    started = time.perf_counter()
    frames: list[pd.DataFrame | None] = [None] * len(seeds)
    tables: list[pd.DataFrame | None] = [None] * len(seeds)
    with _progress(progress, scenario, len(seeds)) as update, _pool(workers, len(seeds)) as pool:
        update()
        jobs = jobs_for(scenario, seeds, coefficients)
        for index, (frame, table) in enumerate(pool(simulate_with_cohorts, jobs)):
            frames[index] = frame.assign(run=index)
            tables[index] = table.assign(run=index)
            update(advance=1)
    timeseries = pd.concat(frames, ignore_index=True)
    timeseries = timeseries[["run", *[c for c in timeseries.columns if c != "run"]]]
    return RunResult(
        scenario, seed, seeds, timeseries, time.perf_counter() - started, pd.concat(tables, ignore_index=True)
    )


def jobs_for(
    scenario: Scenario, seeds: list[int], coefficients: Coefficients | None = None
) -> list[tuple[Scenario, int, Coefficients | None]]:
    """The replications of a scenario as jobs (:func:`simulate`): each seed with its coefficients,
    drawn from the estimates' uncertainty where the scenario asks for it (abm/analysis/uncertainty.py)."""
    return list(
        zip([scenario] * len(seeds), seeds, uncertainty.replication_coefficients(scenario, seeds, coefficients))
    )


def resized(
    scenario: Scenario, end_year: int | None = None, residents: int | None = None, agents: str | None = None
) -> Scenario:
    """The scenario with another last year, number of simulated residents or Household objects
    (``population.agents``); what is not given stays. The one way a run is shortened or resized."""
    population = {k: v for k, v in (("residents", residents), ("agents", agents)) if v is not None}
    update: dict = {"population": scenario.population.model_copy(update=population)} if population else {}
    return scenario.model_copy(update=update | ({"end_year": end_year} if end_year is not None else {}))


def model_at(scenario: Scenario, year: int, seed: int, coefficients: Coefficients | None = None) -> PensionModel:
    """A model of ``scenario`` with every year before ``year`` simulated: ``year`` is next (for
    explaining or measuring that year's choices)."""
    model = PensionModel(scenario=resized(scenario, end_year=year), rng=seed, coefficients=coefficients)
    while model.year < year:
        model.step()
    return model


def simulate(job: tuple[Scenario, int, Coefficients | None]) -> pd.DataFrame:
    """One replication: the DataCollector's table, a row per year."""
    return _simulate(job)[0]


def simulate_with_cohorts(job: tuple[Scenario, int, Coefficients | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One replication: the DataCollector's table and the cohort table (abm/analysis/cohorts.py)."""
    frame, model = _simulate(job, lifetime=True)
    return frame, cohorts.model_table(model)


def _simulate(
    job: tuple[Scenario, int, Coefficients | None], lifetime: bool = False
) -> tuple[pd.DataFrame, PensionModel]:
    scenario, seed, coefficients = job
    model = PensionModel(scenario=scenario, rng=seed, coefficients=coefficients, lifetime=lifetime)
    while model.running:
        model.step()
    frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    return frame.astype({"year": int}), model


@contextmanager
def _pool(workers: int, jobs: int) -> Iterator:
    """``map`` in this process, or over a process pool (results in submission order)."""
    # workers start with the model imported
    with executor(min(workers, jobs), preload=["abm.analysis.replications"]) as runs:
        yield runs.map


def _progress(show: bool, scenario: Scenario, runs: int):
    """``advance()`` of the runs' progress bar (drawn at once), or of nothing."""
    if not show:
        return nullcontext(lambda **fields: None)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
    )
    return progress.bar(*columns, description=f"{scenario.name} {scenario.start_year}-{scenario.end_year}", total=runs)


def write(result: RunResult, out: Path) -> Path:
    """Write the results folder atomically: a temporary sibling, renamed when complete. An existing
    folder is replaced only if it is an earlier run folder (:func:`abm.infra.destinations.check`)."""
    destinations.check(out, "run")
    with atomic.folder(out) as staging:
        result.timeseries.to_csv(staging / "timeseries.csv", index=False)
        result.timeseries.to_parquet(staging / "timeseries.parquet", index=False)
        table = result.bands()
        table.to_csv(staging / "bands.csv", index=False)
        table.to_parquet(staging / "bands.parquet", index=False)
        (staging / "summary.json").write_text(json.dumps(result.summary(), indent=2))
        (staging / "scenario.yaml").write_text(result.scenario.to_yaml())
        (staging / "metadata.json").write_text(json.dumps(metadata(result), indent=2))
        runs = f"{result.runs} runs" if result.runs > 1 else "1 run"
        plots.save_all(
            result.timeseries,
            f"{result.scenario.name} (seed {result.seed}, {runs})",
            staging,
            observed=county_observations(result.scenario),
        )
        if result.cohorts is not None:
            write_cohorts(result, staging)
    return Path(out)


def write_cohorts(result: RunResult, folder: Path) -> None:
    """cohorts.csv (mean over runs, bands of the main measures) and cohorts.png."""
    table = cohorts.over_runs(result.cohorts)
    table.to_csv(folder / "cohorts.csv", index=False)
    plots.save(
        cohorts.figure({result.scenario.name: table}, f"{result.scenario.name}, {result.runs} run(s)"),
        folder / "cohorts.png",
    )


def county_observations(scenario: Scenario) -> dict | None:
    """Census observations stored for the scenario's county file, if any."""
    return load_observations(county_path(scenario.population.county, scenario.source_dir))


def read(folder: Path) -> pd.DataFrame:
    """The time series of a results folder."""
    return read_parquet(
        Path(folder) / "timeseries.parquet",
        f"run its scenario again (pension-abm run ... --out {folder}) to rewrite the folder",
    )


def metadata(result: RunResult) -> dict:
    return {
        **destinations.marker("run"),
        "scenario": result.scenario.name,
        "seed": result.seed,
        "replication_seeds": result.seeds,
        "wall_seconds": round(result.seconds, 3),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version(name) for name in PACKAGES},
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def resident_count(scenario: Scenario) -> int:
    """The residents a simulation of ``scenario`` starts with: population.residents, or where it is null
    (one per real resident) the county's population (all ages: an upper bound of those aged 16+)."""
    if scenario.population.residents is not None:
        return scenario.population.residents
    return int(load_county(scenario).population)


def check_memory(
    scenario: Scenario,
    runs: int,
    workers: int,
    what: str | None = None,
    field: str = "population.residents",
    models: int = 1,
) -> None:
    """Refuse ``runs`` replications of ``scenario`` on ``workers`` processes if they cannot fit
    (see :func:`abm.infra.memory.check`; as runs keep the lifetime accounts the cohort tables read)."""
    parallel = min(workers, runs)
    what = what or (
        f"{runs} run{'s' if runs != 1 else ''} of {scenario.name}" + (f" on {parallel} workers" if parallel > 1 else "")
    )
    memory.check(
        resident_count(scenario),
        models,
        parallel,
        what,
        lifetime=True,
        file=scenario.source_file if field.startswith("population.") else None,
        field=field,
    )
