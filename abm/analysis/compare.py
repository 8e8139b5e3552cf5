"""Comparing scenarios: key indicators at the report years, differences from the first scenario
with their uncertainty, and one figure per indicator with every scenario's band."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis import cohorts, replications
from abm.analysis.bands import bands
from abm.analysis.plots import band_line, save
from abm.infra import atomic, destinations, tables
from abm.infra.errors import UserError
from abm.inputs.loader import load_scenario
from abm.sim import outcomes
from abm.sim.outcomes import KEY_INDICATORS


@dataclass(frozen=True)
class Entry:
    name: str
    timeseries: pd.DataFrame  # run, year, indicators
    report_years: list[int]
    cohorts: pd.DataFrame | None = None  # cohorts.csv of the run (abm/analysis/cohorts.py), if it has one


def gather(sources: list[Path], runs: int | None, workers: int, overrides=(), progress=False) -> list[Entry]:
    """Each source is a scenario file (run now) or a results folder (read)."""
    specs = {source: load_scenario(source, overrides) for source in map(Path, sources) if not source.is_dir()}
    for spec in specs.values():  # every scenario checked before the first runs
        replications.check_memory(spec, runs or spec.run.replications, workers)
    entries = []
    for source in map(Path, sources):
        if source.is_dir():
            if not (source / "timeseries.parquet").is_file():
                raise UserError("not a results folder (no timeseries.parquet)", file=source)
            spec = load_scenario(source / "scenario.yaml")
            entries.append(Entry(spec.name, replications.read(source), spec.report_years, cohorts.read(source)))
        else:
            spec = specs[source]
            result = replications.run(spec, runs=runs, workers=workers, progress=progress)
            entries.append(Entry(spec.name, result.timeseries, spec.report_years, cohorts.over_runs(result.cohorts)))
    names = [e.name for e in entries]
    if len(set(names)) < len(names):
        raise UserError(f"scenario names repeat ({', '.join(names)}); give each scenario its own name", field="name")
    return entries


def names(sources: list[Path], overrides=()) -> list[str]:
    """The scenario names of the sources, read without running anything (for the default folder)."""
    found = []
    for source in map(Path, sources):
        if source.is_dir():
            if not (source / "timeseries.parquet").is_file():
                raise UserError("not a results folder (no timeseries.parquet)", file=source)
            found.append(load_scenario(source / "scenario.yaml").name)
        else:
            found.append(load_scenario(source, overrides).name)
    return found


def default_folder(names: list[str]) -> Path:
    """results/compare-<first>-<second>-... (at most 120 characters)."""
    return Path("results") / "-".join(["compare", *names])[:120]


def table(entries: list[Entry], indicators=KEY_INDICATORS) -> pd.DataFrame:
    """Mean and 90% band of each indicator per scenario and report year, and the difference from
    the first scenario: paired by run (the same seeds) where both have the same runs."""
    base = entries[0]
    years = [y for y in base.report_years if all(y in set(e.timeseries["year"]) for e in entries)]
    rows = []
    for entry in entries:
        paired = set(entry.timeseries["run"]) == set(base.timeseries["run"])
        for name in indicators:
            for year in years:
                values = _values(entry, name, year)
                reference = _values(base, name, year)
                stats = bands(values)
                diff = bands(values - reference.reindex(values.index)) if paired else {}
                rows.append(
                    {
                        "indicator": name,
                        "year": year,
                        "scenario": entry.name,
                        **stats,
                        "difference": stats["mean"] - reference.mean(),
                        "difference_low": diff.get("low", np.nan),
                        "difference_high": diff.get("high", np.nan),
                        "runs": len(values),
                    }
                )
    return pd.DataFrame(rows)


def _values(entry: Entry, name: str, year: int) -> pd.Series:
    frame = entry.timeseries
    return frame.loc[frame["year"] == year].set_index("run")[name]


def markdown(frame: pd.DataFrame, base: str) -> str:
    """One table per indicator, headed by its label and unit: years x scenarios; differences from
    the first with bands."""
    lines = []
    for name, part in frame.groupby("indicator", sort=False):
        scenarios = list(dict.fromkeys(part["scenario"]))
        rows = []
        for year, row in part.groupby("year", sort=False):
            cells = []
            for _, r in row.iterrows():
                cell = outcomes.number(name, r["mean"])
                if r["scenario"] != base:
                    low, high = (outcomes.number(name, r[k], True) for k in ("difference_low", "difference_high"))
                    band = f" [{low}, {high}]" if not np.isnan(r["difference_low"]) else ""
                    cell += f" ({outcomes.number(name, r['difference'], True)}{band})"
                cells.append(cell)
            rows.append([str(year), *cells])
        lines += [f"### {outcomes.heading(name)} (`{name}`)", "", tables.markdown(["year", *scenarios], rows), ""]
    return "\n".join(lines)


def _axes(ax, name: str) -> None:
    """Title and vertical axis of one indicator's panel: its label, and its unit."""
    ax.set_title(outcomes.label(name), fontsize=10)
    ax.set_ylabel(outcomes.shown_unit(name))


def figure(entries: list[Entry], name: str) -> Figure:
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for entry in entries:
        band_line(ax, entry.timeseries, name, entry.name)
    _axes(ax, name)
    ax.set_xlabel("year")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def overview(entries: list[Entry], names=KEY_INDICATORS) -> Figure:
    """The one-page answer: every key indicator, every scenario, with bands."""
    cols = 2
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(13, 3.1 * rows))
    axes = fig.subplots(rows, cols, sharex=True)
    for ax, name in zip(axes.flat, names):
        for entry in entries:
            band_line(ax, entry.timeseries, name, entry.name)
        _axes(ax, name)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    for ax in list(axes.flat)[len(names) - cols : len(names)]:
        ax.xaxis.set_tick_params(labelbottom=True)  # the bottom panel of each column shows the years
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def write(entries: list[Entry], out: Path) -> Path:
    """comparison.csv, comparison.md, overview.png and one PNG per key indicator, atomically. An
    existing folder is replaced only if it is an earlier comparison (:func:`abm.infra.destinations.check`)."""
    destinations.check(out, "compare")
    frame = table(entries)
    with atomic.folder(out) as staging:
        metadata = {
            **destinations.marker("compare"),
            "scenarios": [e.name for e in entries],
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (staging / destinations.MARKER).write_text(json.dumps(metadata, indent=2))
        frame.to_csv(staging / "comparison.csv", index=False)
        base = entries[0].name
        header = (
            f"# Comparison against {base}\n\nMean over runs; in brackets the difference from {base} "
            f"and its 90% band over paired runs (same seeds); differences of percentages are in percentage "
            f"points.\n\n![overview](overview.png)\n\n"
        )
        by_scenario = {e.name: e.cohorts for e in entries if e.cohorts is not None}
        cohort_text = cohort_markdown(by_scenario) if by_scenario else ""
        (staging / "comparison.md").write_text(header + markdown(frame, base) + cohort_text)
        if by_scenario:
            save(cohorts.figure(by_scenario, "all residents by scenario"), staging / "cohorts.png")
        save(overview(entries), staging / "overview.png")
        for name in KEY_INDICATORS:
            save(figure(entries, name), staging / f"{name}.png")
    return Path(out)


def cohort_markdown(by_scenario: dict[str, pd.DataFrame]) -> str:
    """Money's worth (received / own money) and median internal rate of return of all residents by
    birth cohort, a column per scenario; cohorts valued to at least cohorts.COMPLETE."""
    lines = [
        "## Money's worth by birth cohort",
        "",
        f"All residents of each cohort (`cohorts.csv` of each run); cohorts at least {cohorts.COMPLETE:.0%} "
        "valued. Money's worth: present value received / own money paid, at the account interest rates; "
        "in brackets the median internal rate of return.",
        "",
        "![cohorts](cohorts.png)",
        "",
    ]
    parts = {
        name: cohorts.complete(t)[lambda f: f["grade"] == cohorts.ALL].set_index("cohort")
        for name, t in by_scenario.items()
    }
    rows = []
    for cohort in sorted(set().union(*(p.index for p in parts.values()))):
        cells = []
        for part in parts.values():
            if cohort in part.index and not np.isnan(part.at[cohort, "money_worth"]):
                cells.append(f"{part.at[cohort, 'money_worth']:.1f} ({part.at[cohort, 'irr_median']:.1%})")
            else:
                cells.append("-")
        rows.append([cohort, *cells])
    return "\n".join([*lines, tables.markdown(["cohort", *by_scenario], rows)]) + "\n"
