"""The README's run-derived figures: every such table and figure regenerated from fresh runs.

README.md holds each generated section between two marker lines,
``<!-- generated: NAME -->`` and ``<!-- /generated -->``; this script rewrites what lies between
them and leaves every other line as it is. Jobs compute one or more sections (and figures in
docs/) each:

- quick (seconds, the default; ``make docs``): ``baseline`` (the baseline run's table and
  docs/baseline-enrolment.png), ``population`` (the baseline's population against the census and
  docs/population.png), ``irr`` (the money's-worth table), ``experiments`` and ``cost-path`` (the
  baseline carried to 2100: its valuation and fiscal cost);
- slow (minutes; ``make docs-bench``): ``sweeps`` (the shipped sweeps run and analysed: their
  table, their leading indices, docs/sweep-*.png), ``scenario-effects`` (the scenario table: each
  shipped scenario's effects in 2040 against the baseline over paired runs, and the mechanisms
  behind them), ``searches`` (the shipped policy searches run: each answer with its bands and times,
  docs/search-*.png), ``bench-model``, ``bench-sweep`` and ``bench-viz`` (the JSON lines of
  bench/bench_*.py turned into tables) and ``screenshot`` (docs/viz.png, the browser page after 15
  simulated years).

Every run also rewrites two sections computed from the code alone: the survey README's stand-in
coefficients (``standin-generating``) and results/README.md's table of the time series' columns
(``columns``, from the registry of indicators, abm/sim/outcomes.py).

Usage:
  python docs/build.py                      # the quick jobs
  python docs/build.py --bench              # the quick and the slow jobs
  python docs/build.py --only sweeps irr    # the jobs named
  python docs/build.py --sobol-1024         # bench-sweep also times bench/sobol_1024.yaml (several minutes)
  python docs/build.py --check              # exit 1 if a quick section differs from a fresh run; writes nothing
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from abm.infra import atomic, tables
from abm.infra.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SURVEY_README = ROOT / "abm" / "calibration" / "survey" / "README.md"  # the stand-in's generating values
RESULTS_README = ROOT / "results" / "README.md"  # the time series' columns
DOCS = ROOT / "docs"
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SWEEPS = ROOT / "scenarios" / "sweeps"
SCENARIOS = ROOT / "scenarios"
SEARCHES = ROOT / "searches"

OPEN = re.compile(r"^<!-- generated: ([a-z0-9-]+) -->$")
CLOSE = "<!-- /generated -->"


# --- markers -------------------------------------------------------------------------------------


def parse(text: str, source: str | Path = README) -> dict[str, str]:
    """The generated sections of ``text``, name -> the lines between its markers.

    Refuses (UserError naming the line) an opening marker inside an open section, a closing
    marker without an opening one, a section left open at the end, and a name used twice.
    """
    sections: dict[str, str] = {}
    name, start, body = None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        opening = OPEN.match(line)
        if opening:
            if name is not None:
                raise UserError(
                    f"section {opening[1]!r} opens inside section {name!r} (opened on line {start}); "
                    f"close it first with {CLOSE}",
                    file=source,
                    line=number,
                )
            if opening[1] in sections:
                raise UserError(f"section {opening[1]!r} appears twice", file=source, line=number)
            name, start, body = opening[1], number, []
        elif line == CLOSE:
            if name is None:
                raise UserError(f"{CLOSE} closes no section", file=source, line=number)
            sections[name] = "\n".join(body).strip("\n")
            name = None
        elif line.lstrip().startswith(("<!-- generated", "<!-- /generated")):
            raise UserError(
                f"malformed marker {line.strip()!r}: a marker is alone on its line, "
                f"'<!-- generated: NAME -->' (NAME: a-z, 0-9, -) or {CLOSE!r}",
                file=source,
                line=number,
            )
        elif name is not None:
            body.append(line)
    if name is not None:
        raise UserError(f"section {name!r} is never closed with {CLOSE}", file=source, line=start)
    return sections


def replace(text: str, fresh: dict[str, str], source: str | Path = README) -> str:
    """``text`` with the named sections' contents replaced; every other line is kept as it is."""
    missing = sorted(set(fresh) - set(parse(text, source)))
    if missing:
        raise UserError(
            f"no markers for section(s) {', '.join(missing)}: add "
            f"'<!-- generated: NAME -->' and {CLOSE!r} lines where they belong",
            file=source,
        )
    out, name = [], None
    for line in text.splitlines(keepends=True):
        opening = OPEN.match(line.rstrip("\n"))
        if opening:
            name = opening[1]
            out.append(line)
            if name in fresh:
                out.append(f"\n{fresh[name]}\n\n")
        elif line.rstrip("\n") == CLOSE:
            name = None
            out.append(line)
        elif name is None or name not in fresh:
            out.append(line)
    return "".join(out)


def stale(text: str, fresh: dict[str, str], source: str | Path = README) -> list[str]:
    """Names of the sections whose text in ``text`` differs from ``fresh`` (or has no markers)."""
    current = parse(text, source)
    return [name for name, body in fresh.items() if current.get(name) != body]


# --- formatting ----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    return tables.markdown(header, rows)


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def number(value: float) -> str:
    """An index or effect in its output's unit, readable at any scale."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f} M"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def count(value: int) -> str:
    return f"{value:,}"


def machine() -> str:
    """Where timings were taken: cores and the load already on them (the machine may be shared)."""
    return f"Measured on {os.cpu_count()} cores with a load average of {os.getloadavg()[0]:.1f} when the runs started."


# --- jobs ----------------------------------------------------------------------------------------


@dataclass
class Result:
    sections: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # written under docs/
    notes: list[str] = field(default_factory=list)


BASELINE_YEARS = (2011, 2018, 2020, 2030, 2050)
# the indicators of the table, and what each row adds to the indicator's label (abm/sim/outcomes.py)
BASELINE_ROWS = {
    "participation_rate": "paying / eligible",
    "lowest_grade_share": "",
    "top_grade_share": "",
    "replacement_rate": "mean pension / rural income",
}


def row_label(name: str, note: str = "") -> str:
    """An indicator's label, a note in brackets, and its unit: "replacement rate (...), %"."""
    from abm.sim import outcomes

    return f"{outcomes.label(name)}{f' ({note})' if note else ''}, {outcomes.shown_unit(name)}"


def indicator_rows(means, rows: dict[str, str], years) -> list[list[str]]:
    """One row per indicator (its label, note and unit), its mean in each year in its shown unit."""
    from abm.sim import outcomes

    return [
        [row_label(name, note), *(outcomes.number(name, means.loc[year, name]) for year in years)]
        for name, note in rows.items()
    ]


def baseline(figures: Path | None = DOCS) -> Result:
    """The baseline as ``pension-abm run scenarios/baseline.yaml`` runs it: table and enrolment figure."""
    from abm.analysis import plots, replications
    from abm.inputs.loader import load_scenario

    scenario = load_scenario(BASELINE)
    result = replications.run(scenario)
    means = result.timeseries.groupby("year").mean(numeric_only=True)
    coefficients = scenario.behaviour.coefficients
    lead = (
        f"`make run` (`pension-abm run scenarios/baseline.yaml`): seed {result.seed}, "
        f"{count(scenario.population.residents)} simulated residents, {coefficients} coefficients, "
        f"{result.runs} run{'s' if result.runs > 1 else ''}:"
    )
    rows = indicator_rows(means, BASELINE_ROWS, BASELINE_YEARS)
    out = Result({"baseline": lead + "\n\n" + table(["indicator", *map(str, BASELINE_YEARS)], rows)})
    if figures is not None:
        runs = f"{result.runs} runs" if result.runs > 1 else "1 run"
        fig = plots.figure(
            result.timeseries, plots.FIGURES["enrolment.png"], f"{scenario.name} (seed {result.seed}, {runs})"
        )
        out.files.append(plots.save(fig, figures / "baseline-enrolment.png"))
    return out


POPULATION_YEARS = (2011, 2019, 2020, 2030, 2040, 2050)


def population(figures: Path | None = DOCS) -> Result:
    """The baseline's population against the census: table and docs/population.png."""
    from abm.analysis import plots, replications
    from abm.inputs.loader import load_scenario

    scenario = load_scenario(BASELINE)
    result = replications.run(scenario)
    observed = replications.county_observations(scenario) or {}
    means = result.timeseries.groupby("year").mean(numeric_only=True)
    census = observed.get("population", {})
    deaths = observed.get("crude_death_rate", {})
    old = observed.get("share_60_plus", {})
    rows = [
        [str(year), "", "", "", f"{count(census[year])} (census)"]
        for year in sorted(census)
        if year < scenario.start_year
    ]
    for year in POPULATION_YEARS:
        row = means.loc[year]
        mid_year = row["population"] - (row["births"] - row["deaths"] + row["in_migrants"] - row["out_migrants"]) / 2
        notes = (
            ([f"{count(census[year])}"] if year in census else [])
            + ([f"death rate {1000 * deaths[year]:.2f}"] if year in deaths else [])
            + ([f"60+: {percent(old[year])} (national rural)"] if year in old else [])
        )
        rows.append(
            [
                str(year),
                count(round(row["population"])),
                percent(row["share_60_plus"]),
                f"{1000 * row['deaths'] / mid_year:.2f}",
                "; ".join(notes),
            ]
        )
    lead = (
        f"Baseline, seed {result.seed}, {result.runs} run{'s' if result.runs > 1 else ''}: population at the "
        "end of each year, crude death rate per mid-year population; observations from "
        "`abm/data/observations/qi_county.yaml`:"
    )
    header = ["year", "population", "aged 60+", "deaths per mille", "census / communique"]
    out = Result({"population": lead + "\n\n" + table(header, rows)})
    if figures is not None:
        fig = plots.figure(
            result.timeseries,
            plots.with_observed(plots.FIGURES["population.png"], observed),
            f"{scenario.name} (seed {result.seed})",
        )
        out.files.append(plots.save(fig, figures / "population.png"))
    return out


COST_YEARS = (2020, 2030, 2050, 2070, 2100)
COST_END = 2100
COST_ROWS = {
    "funding_ratio": "accounts / account liability",
    "longevity_gap": "present value",
    "basic_pension_obligation": "present value",
    "public_spending": "",
    "public_spending_per_person": "",
    "public_spending_share_gdp": "",
    "public_spending_share_budget": "",
    "life_expectancy_at_pension_age": "60; the divisor implies 11.6",
}


def cost_path(figures: Path | None = DOCS) -> Result:
    """The baseline carried to 2100 (``--set end_year=2100``): valuation and fiscal cost by year."""
    from abm.analysis import replications
    from abm.inputs.loader import load_scenario

    scenario = load_scenario(BASELINE, [("end_year", COST_END)])
    result = replications.run(scenario)
    means = result.timeseries.groupby("year").mean(numeric_only=True)
    divisor = {float(means.loc[year, "divisor_life_expectancy"]) for year in COST_YEARS}
    if divisor != {139 / 12}:
        raise RuntimeError(f"the row label assumes the divisor 139 throughout, got {sorted(divisor)}")
    lead = (
        f"`pension-abm run scenarios/baseline.yaml --set end_year={COST_END}`: seed {result.seed}, "
        f"{count(scenario.population.residents)} simulated residents, {result.runs} "
        f"run{'s' if result.runs > 1 else ''}; valued at the account interest rate in force "
        f"({percent(list(scenario.policy.interest_rate.values())[-1])} from "
        f"{list(scenario.policy.interest_rate)[-1]}):"
    )
    rows = indicator_rows(means, COST_ROWS, COST_YEARS)
    return Result({"cost-path": lead + "\n\n" + table(["indicator", *map(str, COST_YEARS)], rows)})


EXPERIMENTS = {"year": 2026, "replications": 10, "residents": 5_000}  # the command's defaults


def experiments(figures: Path | None = DOCS) -> Result:
    """`pension-abm experiments` with its defaults: the field evidence against the baseline."""
    from abm.analysis.experiments import run_all, simulated_text
    from abm.inputs.loader import load_scenario

    frame = run_all(load_scenario(BASELINE), **EXPERIMENTS)
    rows = []
    for row in frame.itertuples():
        target = row.target
        rows.append(
            [
                row.experiment,
                row.measure,
                simulated_text(row),
                target.replace("|", "\\|"),
                {True: "yes", False: "no"}.get(row.met, ""),
            ]
        )
    lead = (
        f"`pension-abm experiments` (baseline, {EXPERIMENTS['year']}, {EXPERIMENTS['replications']} runs of "
        f"{count(EXPERIMENTS['residents'])} residents), mean [90% band]:"
    )
    return Result({"experiments": lead + "\n\n" + table(["experiment", "measure", "simulated", "target", "met"], rows)})


IRR_GRADES = (100, 300, 500, 1000, 2000)
IRR_ENTRY_AGE = 45


def irr(figures: Path | None = DOCS) -> Result:
    """Money's worth of the README's grades for a resident entering at 45, under the baseline."""
    from abm.analysis.irr import money_worth
    from abm.inputs.loader import load_scenario

    scenario = load_scenario(BASELINE)
    worth = [money_worth(scenario, grade, IRR_ENTRY_AGE) for grade in IRR_GRADES]
    first = worth[0]
    if any(
        (w.years, w.start_year, w.retirement_age) != (first.years, first.start_year, first.retirement_age)
        for w in worth
    ):
        raise RuntimeError("the grades retire at different ages: the table's header would be wrong")
    lead = (
        f"`pension-abm irr --grade G --entry-age {IRR_ENTRY_AGE}` on the baseline: {first.years} years "
        f"of contributions from {first.start_year}, pension from age {first.retirement_age}:"
    )
    rows = [
        ["internal rate of return", *(percent(w.irr) for w in worth)],
        [f"monthly pension at {first.retirement_age} (yuan)", *(f"{w.monthly_pension:.0f}" for w in worth)],
        ["replacement rate", *(percent(w.replacement_rate) for w in worth)],
    ]
    return Result({"irr": lead + "\n\n" + table(["grade (yuan/year)", *map(str, IRR_GRADES)], rows)})


# The shipped sweeps in the README's order, and the output whose index figure the README shows.
SHIPPED = {
    "policy_levers": ("participation_rate@mean2026-2040", "sweep-policy-levers.png"),
    "behaviour": ("lowest_grade_share@2040", "sweep-behaviour.png"),
}
LEADING = 3  # parameters shown per output
WORKERS = 2


def sweeps(figures: Path | None = DOCS, workers: int = WORKERS) -> Result:
    """The shipped sweeps run and analysed as ``pension-abm sweep`` does: their table and leading indices."""
    from abm.analysis.sensitivity import analyze_folder
    from abm.analysis.sweep import load_sweep, run_sweep

    rows, findings, where = [], [], machine()
    folder = Path(tempfile.mkdtemp(prefix="docs-sweeps-"))
    out = Result()
    try:
        for name, (figure_output, figure_name) in SHIPPED.items():
            path = SWEEPS / f"{name}.yaml"
            spec = load_sweep(path)
            stats = run_sweep(spec, path, folder / name, workers=workers)
            analysis = analyze_folder(folder / name)
            rows.append(
                [
                    f"`{name}.yaml`",
                    _method(spec),
                    ", ".join(p.name.replace("_", " ") for p in spec.parameters),
                    count(stats["points"]),
                    count(stats["runs"]),
                    f"{stats['seconds']:.0f} s ({stats['runs_per_second']:.1f} runs/s)",
                ]
            )
            findings.append(_leading(spec, analysis))
            if figures is not None:
                slug = re.sub(r"[^A-Za-z0-9_-]+", "_", figure_output).strip("_")
                out.files.append(Path(shutil.copyfile(folder / name / f"indices_{slug}.png", figures / figure_name)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    header = ["sweep", "method", "parameters", "points", "runs", f"{workers} workers"]
    out.sections["sweeps"] = table(header, rows) + "\n\n" + where
    out.sections["sweep-findings"] = "\n\n".join(findings)
    return out


def _method(spec) -> str:
    if spec.method == "sobol":
        return f"Sobol, N={spec.samples}"
    if spec.method == "morris":
        return f"Morris, {spec.samples} trajectories"
    return f"{spec.method}, N={spec.samples}"


def _leading(spec, analysis: dict) -> str:
    """The leading parameters of every output of one analysed sweep, with 95% half-widths."""
    frame = analysis["indices"]
    key = "mu_star" if spec.method == "morris" else next(k for k in ("ST", "delta", "S1") if k in frame)
    conf = f"{key}_conf"
    if key == "mu_star":  # effects are in each output's unit: the widest half-width relative to the leading mu*
        ratios = [part[conf].max() / part[key].max() for _, part in frame.groupby("output") if part[key].max() > 0]
        widest = f"widest {100 * max(ratios, default=0.0):.0f}% of its output's leading mu*"
        label = "mu*, the mean absolute elementary effect in the output's unit"
    else:
        widest = f"widest {number(float(frame[conf].max()) if len(frame) else 0.0)}"
        label = {
            "ST": "ST, the total-order index",
            "S1": "S1, the first-order index",
            "delta": "delta, the moment-independent index",
        }[key]
    general = [w for w in analysis["warnings"] if w.startswith("samples")]
    lead = (
        f"`{spec.name}` ({_method(spec)}): {label}, ± its 95% confidence half-width ({widest})"
        + (f"; the analysis warns: {general[0]}" if general else "")
        + ":"
    )
    rows = []
    for column in spec.columns:
        part = frame[frame["output"] == column].sort_values(key, ascending=False) if len(frame) else frame
        if not len(part):
            rows.append([f"`{column}`", *["does not vary over the sample"] + [""] * (LEADING - 1)])
            continue
        cells = [
            f"{row.parameter} {number(getattr(row, key))} ± {number(getattr(row, conf))}"
            for row in part.head(LEADING).itertuples()
        ]
        rows.append([f"`{column}`", *cells, *[""] * (LEADING - len(cells))])
    header = ["output", *("first", "second", "third", "fourth", "fifth")[:LEADING]]
    return lead + "\n\n" + table(header, rows)


# The shipped policy searches, in the README's order.
SHIPPED_SEARCHES = ("cheapest_participation", "adequacy")


def searches(figures: Path | None = DOCS, workers: int = WORKERS) -> Result:
    """The shipped searches run as ``pension-abm search`` runs them: each answer (the cheapest policy meeting
    every constraint, its measures with 90% bands), how the front changed when run again, and the times."""
    from abm.analysis.search import report
    from abm.analysis.search.optimize import run_search
    from abm.analysis.search.spec import load_search

    where, parts, out = machine(), [], Result()
    folder = Path(tempfile.mkdtemp(prefix="docs-searches-"))
    try:
        for name in SHIPPED_SEARCHES:
            path = SEARCHES / f"{name}.yaml"
            spec = load_search(path)
            started = time.perf_counter()
            outcome = run_search(spec, path, folder / name, workers=workers)
            written = report.write(outcome, folder / name)
            seconds = time.perf_counter() - started
            parts.append(search_answer(spec, outcome, written, seconds, workers))
            if figures is not None:
                out.files.append(Path(shutil.copyfile(folder / name / "front.png", figures / f"search-{name}.png")))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out.sections["searches"] = "\n\n".join(parts) + "\n\n" + where
    return out


def search_answer(spec, outcome, written: dict, seconds: float, workers: int) -> str:
    """One shipped search's answer: a lead, the cheapest policy's measures with bands, the front's change."""
    from abm.analysis.search import report
    from abm.analysis.search.problem import codes_of

    front = written["table"]
    runs = len(outcome.problem.scenarios) * spec.final_replications
    rate = outcome.policies_run / outcome.seconds if outcome.seconds > 0 else 0.0
    lead = (
        f"`{spec.name}` ({spec.description}): {len(outcome.evaluations)} policies searched in "
        f"{outcome.seconds:.0f} s ({rate:.2f} policies/s, each {len(outcome.problem.scenarios)} scenarios x "
        f"{spec.replications} replications), {len(front)} run again with {spec.final_replications} replications "
        f"per scenario in {outcome.final_seconds:.0f} s; {seconds:.0f} s in all on {workers} workers. "
        + report.changed(outcome, front)
    )
    if written["cheapest"] is None:
        return lead + " **No policy met every constraint**; the closest are in its search.md."
    row = front[front["cheapest"]].iloc[0]
    levers = ", ".join(
        f"{lever.name} {lever.shown(c)}{f' {lever.unit}' if lever.unit else ''}"
        for lever, c in zip(spec.levers, codes_of(written["cheapest"]))
    )
    rows = [
        [
            m.describe(),
            report.unit(m),
            report.with_band(m, row),
            report.number(m, row[f"{m.name}_margin"], signed=True) if f"{m.name}_margin" in row else "",
        ]
        for m in spec.measures
    ]
    reference = outcome.reference.iloc[0] if len(outcome.reference) else None
    if reference is not None:
        rows = [[*r, report.with_band(m, reference)] for r, m in zip(rows, spec.measures)]
    header = ["measure", "unit", f"cheapest [90% band over {runs} runs]", "margin", "base scenario as written"]
    return lead + f" The cheapest policy meeting every constraint: {levers}:\n\n" + table(header[: len(rows[0])], rows)


# The scenarios' effects: the year compared, and runs x residents giving bands narrow enough to read
# in a few minutes on 2 cores (docs/build.py --only scenario-effects).
EFFECTS = {"year": 2040, "runs": 30, "residents": 10_000}


def scenario_effects(figures: Path | None = DOCS, workers: int = WORKERS) -> Result:
    """Every shipped scenario against the baseline in 2040, over paired runs: the scenario table."""
    from abm.analysis.effects import measure

    others = sorted(p for p in SCENARIOS.glob("*.yaml") if p.resolve() != BASELINE.resolve())
    where = machine()
    effects = measure([BASELINE, *others], workers=workers, **EFFECTS)
    return Result({"scenario-effects": effects_table(effects, workers) + "\n\n" + where})


LEVER_YEAR = 2026  # the levers are abm/analysis/directions.py's, from this year
LEVER_SPAN = (LEVER_YEAR, LEVER_YEAR + 9)
LEVER_SIZE = {"runs": 20, "residents": 10_000}
# the lever table's indicators: differences in their shown unit, or relative to the baseline's level
LEVER_INDICATORS = {
    "participation_rate": "difference",
    "participation_16_29": "difference",
    "participation_45_59": "difference",
    "mean_contribution": "relative",
    "lowest_grade_share": "difference",
}


def levers(figures: Path | None = DOCS, workers: int = WORKERS) -> Result:
    """Single levers of the baseline against the baseline over 2026-2035, paired runs: what the
    behaviour answers to."""
    from abm.analysis.directions import DIRECTIONS
    from abm.analysis.effects import lever_effects
    from abm.inputs.loader import load_scenario
    from abm.sim import outcomes

    started, where = time.perf_counter(), machine()
    baseline = load_scenario(BASELINE)
    levers = {f"{d.label} from {LEVER_YEAR}": d.change(baseline, LEVER_YEAR) for d in DIRECTIONS}
    frame = lever_effects(
        BASELINE, levers, LEVER_SPAN, indicators=list(LEVER_INDICATORS), workers=workers, **LEVER_SIZE
    )
    seconds = time.perf_counter() - started
    rows = []
    for lever in levers:
        cells = []
        for name, kind in LEVER_INDICATORS.items():
            row = frame[(frame["lever"] == lever) & (frame["indicator"] == name)].iloc[0]
            if kind == "difference":
                cells.append(_effect(name, (row["difference"], row["low"], row["high"])))
            else:
                ref = row["reference"]
                cells.append(f"{row['difference'] / ref:+.1%} [{row['low'] / ref:+.1%}, {row['high'] / ref:+.1%}]")
        rows.append([lever, *cells])
    base = frame[frame["lever"] == next(iter(levers))].set_index("indicator")["reference"]
    levels = [outcomes.indicator(name).unit.text(base[name]) for name in LEVER_INDICATORS]
    rows.insert(0, ["baseline (levels)", *levels])
    lead = (
        f"Each lever alone against the baseline, mean over {LEVER_SPAN[0]}-{LEVER_SPAN[1]} of "
        f"{LEVER_SIZE['runs']} paired runs (the same seeds) of {count(LEVER_SIZE['residents'])} residents, "
        f"difference [90% band]; participation in percentage points of the eligible, the mean contribution "
        f"relative to the baseline's. Each replication draws its behaviour coefficients from their estimates' "
        f"uncertainty (the same draws with and without the lever), so the bands carry that uncertainty as well "
        f"as the simulation's noise. The levers are those `pension-abm directions` holds to the evidence's "
        f"directions (`abm/analysis/directions.py`). The runs took {seconds:.0f} s on {workers} workers "
        f"(`python docs/build.py --only levers`)."
    )
    header = [
        "lever",
        *(
            outcomes.heading(name, difference=True) if kind == "difference" else f"{outcomes.label(name)}, change"
            for name, kind in LEVER_INDICATORS.items()
        ),
    ]
    return Result({"levers": lead + "\n\n" + table(header, rows) + "\n\n" + where})


def effects_table(effects, workers: int = WORKERS) -> str:
    """The scenario table of measured :class:`abm.analysis.effects.Effects`: the baseline's levels, each other
    scenario's paired difference [90% band], and the mechanism behind it."""
    from abm.analysis.effects import INDICATORS, mechanism_sentence
    from abm.sim import outcomes

    base = effects.scenarios[0].name
    rows = [
        [
            f"`{base}`",
            effects.scenarios[0].description,
            *(_level(name, effects.level(base, name)) for name in INDICATORS),
            "the reference: levels in the year",
        ]
    ]
    for scenario in effects.scenarios[1:]:
        cells = [_effect(name, effects.difference(scenario.name, name)) for name in INDICATORS]
        rows.append([f"`{scenario.name}`", scenario.description, *cells, mechanism_sentence(effects, scenario.name)])
    header = [
        "scenario",
        "question (its description)",
        *(outcomes.heading(name, difference=True) for name in INDICATORS),
        f"why: what it changes, and what moved the utility of paying in {effects.year}",
    ]
    lead = (
        f"Effects in {effects.year} against `{base}`: the mean difference over {effects.runs} paired runs (the "
        f"same seeds and the same draws of the behaviour coefficients from their estimates' uncertainty) of "
        f"{count(effects.residents)} simulated residents, [90% band: the simulation's noise and the "
        f"coefficients' uncertainty]; the `{base}` row gives its levels. Public spending is the "
        f"`public_spending` indicator: the year's public money for the scheme "
        f"(basic pensions, bonuses, entry subsidies, government-paid contributions, payments after an "
        f"account is exhausted; abm/sim/fund.py `PUBLIC`). The runs took {effects.seconds:.0f} s on {workers} "
        f"workers (`python docs/build.py --only scenario-effects`)."
    )
    return lead + "\n\n" + table(header, rows)


def _level(name: str, value: float) -> str:
    """An indicator's level in its shown unit, a percentage with its sign (the column gives differences)."""
    from abm.sim import outcomes

    return outcomes.indicator(name).unit.marked(value)


def _effect(name: str, value) -> str:
    """A (difference, low, high) triple of an indicator in its shown unit: "+1.0 [-0.2, +1.7]"."""
    from abm.sim import outcomes

    mean, low, high = (outcomes.number(name, v, signed=True) for v in value)
    return f"{mean} [{low}, {high}]"


def _bench(script: str, *args: str) -> list[dict]:
    """The JSON lines a benchmark script prints (run in its own process, from the project root)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def bench_model(figures: Path | None = DOCS) -> Result:
    """bench/bench_model.py: residents x 40 years at three sizes and two counties one to one, each against the
    plain-Mesa yardstick of the same run and its target."""
    rows, where = [], machine()
    for line in _bench("bench_model.py"):
        size = count(line["residents"]) + ("" if line["size"].isdigit() else f" ({line['size']}, one to one)")
        target = "" if "target" not in line else f"{line['target']}: {'met' if line['met'] else 'not met'}"
        rows.append(
            [
                size,
                f"{line['seconds']:.2f}",
                f"{line['agent_years_per_s'] / 1e6:.2f} M",
                f"{line['vs_plain_mesa']:,}x",
                f"{line['peak_mib']:,.0f} MiB",
                count(line["bytes_per_resident"]),
                target,
            ]
        )
    header = [
        "residents",
        "seconds",
        "agent-years/s",
        "vs plain Mesa",
        "peak memory growth",
        "bytes/resident",
        "target",
    ]
    return Result({"bench-model": table(header, rows) + "\n\n" + where})


def bench_sweep(figures: Path | None = DOCS, sobol_1024: bool = False) -> Result:
    """bench/bench_sweep.py: throughput of the shipped sweeps (smaller samples) on 1 and 2 workers."""
    where = machine()
    lines = _bench("bench_sweep.py", *(["--sobol-1024"] if sobol_1024 else []))
    by_sweep: dict[str, dict[int, dict]] = {}
    for line in lines:
        by_sweep.setdefault(line["sweep"], {})[line["workers"]] = line
    rows = []
    for name, runs in by_sweep.items():
        if name == "sobol_1024":
            continue
        one, two = runs[1], runs[2]
        rows.append(
            [
                f"`{name}`",
                str(one["samples"]),
                count(one["runs"]),
                f"{one['runs_per_s']:.1f}",
                f"{two['runs_per_s']:.1f}",
                f"{two['speedup_vs_1_worker']:.2f}x",
            ]
        )
    header = ["sweep", "samples", "runs", "runs/s, 1 worker", "runs/s, 2 workers", "speed-up"]
    out = Result({"bench-sweep": table(header, rows) + "\n\n" + where})
    if "sobol_1024" in by_sweep:
        from abm.analysis.sweep import load_sweep

        line = by_sweep["sobol_1024"][2]
        spec = load_sweep(ROOT / "bench" / "sobol_1024.yaml")
        minutes, seconds = divmod(round(line["seconds"]), 60)
        out.sections["bench-sobol-1024"] = (
            f"A Sobol sweep of N={spec.samples} over {len(spec.parameters)} parameters ({count(line['points'])} "
            f"points, {spec.replications} run{'s' if spec.replications > 1 else ''} each, `bench/sobol_1024.yaml`) "
            f"took {line['seconds']:.0f} s ({minutes} min {seconds} s, {line['runs_per_s']:.1f} runs/s) on "
            f"{line['workers']} workers (`python bench/bench_sweep.py --sobol-1024`). {where}"
        )
    return out


def bench_viz(figures: Path | None = DOCS) -> Result:
    """bench/bench_viz.py: the page's server cost per simulated year, and Step clicks in Chromium."""
    rows, browser, where = [], None, machine()
    for line in _bench("bench_viz.py"):
        if "browser_step" in line:
            browser = line
        else:
            rows.append(
                [count(line["residents"]), str(line["years"]), f"{line['mean_ms']:.0f}", f"{line['worst_ms']:.0f}"]
            )
    text = table(["residents", "years", "mean ms per year", "worst year, ms"], rows)
    if browser and "mean_ms" in browser:
        text += (
            f"\n\nIn Chromium a Step click shows the new year after {browser['mean_ms']:.0f} ms on average at "
            f"{count(browser['residents'])} residents (worst of {browser['clicks']} clicks "
            f"{browser['worst_ms']:.0f} ms)."
        )
    else:
        text += "\n\nThe Step click in Chromium was not timed (chromium or Playwright missing)."
    return Result({"bench-viz": text + " " + where})


SCREENSHOT_STEPS = 15


def screenshot(figures: Path | None = DOCS) -> Result:
    """docs/viz.png: the browser page (served as ``make viz`` serves it) after 15 Step clicks."""
    if figures is None:
        return Result()
    spec = importlib.util.spec_from_file_location("bench_viz", ROOT / "bench" / "bench_viz.py")
    bench_viz = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, bench_viz)
    spec.loader.exec_module(bench_viz)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return Result(notes=["screenshot: Playwright missing; docs/viz.png kept"])
    if not bench_viz.CHROMIUM.exists():
        return Result(notes=[f"screenshot: {bench_viz.CHROMIUM} missing; docs/viz.png kept"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    command = [str(Path(sys.executable).parent / "pension-abm"), "viz", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        bench_viz._wait_for(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(bench_viz.CHROMIUM), args=bench_viz.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1150})
            page.goto(url)
            step = page.get_by_role("button", name="Step")
            step.wait_for(timeout=60_000)
            for number_ in range(1, SCREENSHOT_STEPS + 1):
                step.click()
                page.get_by_text(re.compile(rf"^Time: {number_}(\.0)?$")).wait_for()
            page.wait_for_timeout(1000)  # the charts redraw after a short debounce
            path = figures / "viz.png"
            page.screenshot(path=str(path), full_page=True)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
    return Result(files=[path])


QUICK: dict[str, Callable[..., Result]] = {
    "baseline": baseline,
    "population": population,
    "irr": irr,
    "experiments": experiments,
    "cost-path": cost_path,
}
SLOW: dict[str, Callable[..., Result]] = {
    "sweeps": sweeps,
    "searches": searches,
    "scenario-effects": scenario_effects,
    "levers": levers,
    "bench-model": bench_model,
    "bench-sweep": bench_sweep,
    "bench-viz": bench_viz,
    "screenshot": screenshot,
}
JOBS = QUICK | SLOW
# jobs whose sections quote wall times
TIMED = ("sweeps", "searches", "scenario-effects", "levers", "bench-model", "bench-sweep", "bench-viz")


def survey_sections() -> dict[str, str]:
    """The survey README's generated section: the stand-in's generating coefficients, from the code."""
    from abm.analysis.fitting.standin import generating_table

    return {"standin-generating": generating_table()}


def columns_table() -> str:
    """results/README.md's table of the time series' columns: the registry of indicators (abm/sim/outcomes.py),
    each column's stored unit, meaning and whether it is a key indicator."""
    from abm.sim import outcomes

    rows = [
        [f"`{name}`", entry.unit.stored, entry.meaning, "key" if entry.key else ""]
        for name, entry in outcomes.INDICATORS.items()
    ]
    return table(["column", "unit", "meaning", "key"], rows)


def results_sections() -> dict[str, str]:
    """results/README.md's generated section: the time series' columns, from the registry of indicators."""
    return {"columns": columns_table()}


def quick_sections() -> dict[str, str]:
    """The quick sections from fresh runs, computed in memory (no figure written)."""
    sections: dict[str, str] = {}
    for job in QUICK.values():
        sections |= job(figures=None).sections
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", action="store_true", help="also the slow jobs: " + ", ".join(SLOW))
    parser.add_argument(
        "--only", nargs="+", choices=list(JOBS), metavar="JOB", help="run only these jobs: " + ", ".join(JOBS)
    )
    parser.add_argument("--sobol-1024", action="store_true", help="bench-sweep also times bench/sobol_1024.yaml")
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the README's quick sections with fresh runs; exit 1 if any differs",
    )
    args = parser.parse_args(argv)
    try:
        text = README.read_text(encoding="utf-8")
        parse(text, README)  # refuse a broken README before any run
        if args.check:
            names = stale(text, quick_sections(), README)
            for name in names:
                print(f"README.md: section {name!r} differs from a fresh run: run `make docs`", file=sys.stderr)
            return 1 if names else 0
        names = args.only or [*QUICK, *(SLOW if args.bench else [])]
        if args.sobol_1024 and "bench-sweep" not in names:
            names.append("bench-sweep")
        for name in names:
            if name in TIMED and os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
                print(
                    f"note: {name}: the machine is busy (load average {os.getloadavg()[0]:.1f}); its times will "
                    "be longer than on a quiet machine",
                    file=sys.stderr,
                )
            started = time.perf_counter()
            job = JOBS[name]
            result = job(sobol_1024=True) if name == "bench-sweep" and args.sobol_1024 else job()
            # each job's sections written as it finishes, into the README as it is then (edits made
            # meanwhile kept; a later job's failure loses nothing finished)
            atomic.write_text(README, replace(README.read_text(encoding="utf-8"), result.sections, README))
            written = [str(p.relative_to(ROOT)) for p in result.files]
            print(
                f"{name}: {time.perf_counter() - started:.1f} s; sections {', '.join(result.sections) or '-'}; "
                f"files {', '.join(written) or '-'}",
                flush=True,
            )
            for note in result.notes:
                print(f"note: {note}", file=sys.stderr)
        for path, sections in ((SURVEY_README, survey_sections()), (RESULTS_README, results_sections())):
            atomic.write_text(path, replace(path.read_text(encoding="utf-8"), sections, path))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
