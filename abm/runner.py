"""Running a scenario and writing its results folder, all or nothing."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abm import atomic, plots
from abm.choice import Coefficients
from abm.model import PensionModel
from abm.scenario import Scenario

# Indicators in the printed and saved summary.
KEY_INDICATORS = ("participation_rate", "lowest_grade_share", "top_grade_share", "mean_contribution",
                  "pensioners", "mean_pension", "replacement_rate", "basic_needs_coverage",
                  "fund_balance", "public_spending")
PACKAGES = ("mesa", "numpy", "pandas", "scipy", "pydantic", "pension-abm")


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    seed: int
    timeseries: pd.DataFrame   # one row per year, a column per indicator
    seconds: float

    def report_years(self) -> list[int]:
        """Start, every tenth year, and the end."""
        first, last = self.scenario.start_year, self.scenario.end_year
        return sorted({first, last, *range((first // 10 + 1) * 10, last, 10)})

    def summary(self) -> dict:
        ts = self.timeseries.set_index("year")
        years = self.report_years()
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "years": [self.scenario.start_year, self.scenario.end_year],
            "indicators": {name: {str(y): float(ts.at[y, name]) for y in years} for name in KEY_INDICATORS},
        }


def run(scenario: Scenario, seed: int | None = None, progress: bool = False,
        coefficients: Coefficients | None = None) -> RunResult:
    """Simulate every year of ``scenario``; ``seed`` and ``coefficients`` override the scenario's."""
    seed = scenario.seed if seed is None else seed
    started = time.perf_counter()
    model = PensionModel(scenario=scenario, rng=seed, coefficients=coefficients)
    with _progress(progress, scenario) as advance:
        while model.running:
            model.step()
            advance(model.year - 1)
    timeseries = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    timeseries["year"] = timeseries["year"].astype(int)
    return RunResult(scenario, seed, timeseries, time.perf_counter() - started)


@contextmanager
def _progress(show: bool, scenario: Scenario):
    if not show:
        yield lambda year: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("year {task.fields[year]}"), TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(scenario.name, total=len(scenario.years), year=scenario.start_year)
        yield lambda year: bar.update(task, advance=1, year=year)


def write(result: RunResult, out: Path) -> Path:
    """Write the results folder atomically: a temporary sibling, renamed when complete."""
    with atomic.folder(out) as staging:
        result.timeseries.to_csv(staging / "timeseries.csv", index=False)
        result.timeseries.to_parquet(staging / "timeseries.parquet", index=False)
        (staging / "summary.json").write_text(json.dumps(result.summary(), indent=2))
        (staging / "scenario.yaml").write_text(result.scenario.to_yaml())
        (staging / "metadata.json").write_text(json.dumps(metadata(result), indent=2))
        plots.save_all(result.timeseries, f"{result.scenario.name} (seed {result.seed})", staging)
    return Path(out)


def metadata(result: RunResult) -> dict:
    return {
        "scenario": result.scenario.name,
        "seed": result.seed,
        "wall_seconds": round(result.seconds, 3),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version(name) for name in PACKAGES},
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None
