"""The pension-abm command line: run, compare and sweep scenarios, calibrate, the money's worth of a grade, the page."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from abm.infra.errors import UserError
from abm.infra.memory import ADVICE as MEMORY_ADVICE
from abm.infra.paths import CALIBRATION_DIR, checkout_calibration

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Simulate enrolment and contribution grades in the urban-rural residents' pension.",
)
out_console, err_console = Console(), Console(stderr=True, soft_wrap=True)  # messages never wrapped


class Terminated(KeyboardInterrupt):
    """SIGTERM (what job schedulers and ``kill`` send), handled like Ctrl-C."""


def _terminate(signum, frame):
    _stopping(signum)
    raise Terminated()


def _interrupt(signum, frame):
    """The program's Ctrl-C."""
    _stopping(signum)
    raise KeyboardInterrupt


def _stopping(signum: int) -> None:
    """In the program, the first Ctrl-C or SIGTERM stops the command: later ones are ignored, so that
    none cuts its cleanup (stopping the workers, removing what is half-written) or its exit short."""
    global _STOPPED
    if _PROGRAM:
        _STOPPED = signum
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def interrupt_code(err: KeyboardInterrupt) -> int:
    """The exit code of an interrupted command: 128 + the signal, as a shell reports it."""
    return 128 + (signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)


def user_errors(command):
    """Bad input ends with one message and exit code 2, never a traceback, and so does running out of
    memory (in a worker process too); Ctrl-C and SIGTERM end the command (its workers too) with a
    one-line message and exit code 130 or 143."""
    atomic = command.__name__ in ("run", "compare", "calibrate_survey", "calibrate_aggregates")

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        main = threading.current_thread() is threading.main_thread()
        handlers = {signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate)} if main else {}
        try:
            return command(*args, **kwargs)
        except UserError as err:
            err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
            raise typer.Exit(2) from None
        except MemoryError:  # numpy's _ArrayMemoryError too, raised here or in a worker
            err_console.print(
                f"[bold red]error:[/] out of memory{'; nothing was written' if atomic else ''}: {MEMORY_ADVICE}",
                highlight=False,
            )
            raise typer.Exit(2) from None
        except KeyboardInterrupt as err:
            if main:  # the workers are stopped already: another Ctrl-C must not cut the exit short
                handlers.setdefault(signal.SIGINT, signal.signal(signal.SIGINT, signal.SIG_IGN))
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            err_console.print("interrupted; nothing was written" if atomic else "interrupted", highlight=False)
            raise typer.Exit(interrupt_code(err)) from None
        finally:
            if not _PROGRAM:  # in-process callers (tests) get their handlers back; the program is ending
                for number, handler in handlers.items():
                    signal.signal(number, handler)

    return wrapper


_PROGRAM = False  # True in the pension-abm program (main), False when the app is called in-process
_STOPPED = 0  # the signal that interrupted the program (SIGINT or SIGTERM)


def main() -> None:
    """The pension-abm program. Interrupted, it exits with 130 or 143 once the command has cleaned up; if a
    thread of a process pool is left that cannot be joined (the interrupt stopped the command while it
    held one of the pool's locks), at once, without the interpreter's exit, which would wait for it."""
    global _PROGRAM
    _PROGRAM = True
    signal.signal(signal.SIGINT, _interrupt)
    try:
        app()
    except SystemExit:
        if not _STOPPED:
            raise
        code = 128 + _STOPPED  # also if the signal came while the arguments were read
        others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
        for thread in others:
            thread.join(timeout=2.0)
        if any(thread.is_alive() for thread in others):
            from abm.infra.processes import release_semaphores

            release_semaphores()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(code)
        raise SystemExit(code) from None


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="override one scenario field, e.g. --set policy.publicity.2026=0.8 (repeatable)"),
]
WORKERS_HELP = "parallel processes (default: all cores); results do not depend on it"
SHIPPED_BASELINE = Path("baseline")  # the shipped scenario's name, as help shows it (datafiles.shipped_file)
SCENARIO_HELP = "a file, or a shipped scenario's name"
TARGETS = CALIBRATION_DIR / "targets.yaml"
TARGETS_HELP = "aggregate targets file (default: the shipped calibration/targets.yaml)"


@app.command()
@user_errors
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, or a shipped scenario's name (baseline)")],
    seed: Annotated[int | None, typer.Option(min=0, help="base seed (default: the scenario's run.seed)")] = None,
    runs: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="replications (default: the scenario's run.replications)")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=256, help=WORKERS_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="results folder (default: results/<scenario name>)")] = None,
    set_: SetOption = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar or summary table")] = False,
) -> None:
    """Run a scenario's replications and write its results folder."""
    from abm.analysis import replications
    from abm.infra import destinations
    from abm.inputs.loader import load_scenario

    spec = load_scenario(scenario, set_ or ())
    folder = out or destinations.default(Path("results"), spec.name, scenario)
    destinations.check(folder, "run")  # before running: nothing is simulated for a folder that is refused
    replications.check_memory(spec, runs or spec.run.replications, workers or os.cpu_count() or 1)
    result = replications.run(spec, seed=seed, runs=runs, workers=workers or os.cpu_count() or 1, progress=not quiet)
    folder = replications.write(result, folder)
    if not quiet:
        out_console.print(_summary_table(result.summary()))
        out_console.print(
            f"{result.runs} run{'s' if result.runs != 1 else ''} of {len(spec.years)} years in "
            f"{result.seconds:.1f} s; "
            f"results in [bold]{folder}[/]"
        )


def _summary_table(summary: dict) -> Table:
    """The key indicators at the report years, each with its unit; with several runs the 90% band
    (5th and 95th percentiles over the runs) below each mean."""
    from abm.sim import outcomes

    indicators = summary["indicators"]
    years = list(next(iter(indicators.values())))
    band = summary["runs"] > 1
    runs = f"{summary['runs']} run{'s' if summary['runs'] != 1 else ''}"
    title = f"{summary['scenario']} (seed {summary['seed']}, {runs}" + (": mean and 90% band)" if band else ")")
    table = Table(title=title)
    table.add_column("indicator, unit", ratio=1)
    for year in years:
        table.add_column(year, justify="right", no_wrap=True)
    for name, values in indicators.items():
        table.add_row(outcomes.heading(name), *(outcomes.number(name, values[y]["mean"]) for y in years))
        if band:
            for key, label in (("low", "5th percentile"), ("high", "95th percentile")):
                table.add_row(f"  {label}", *(outcomes.number(name, values[y][key]) for y in years), style="dim")
    return table


@app.command()
@user_errors
def compare(
    sources: Annotated[list[Path], typer.Argument(help="scenario files (run now) or results folders")],
    runs: Annotated[
        int | None,
        typer.Option(min=1, max=10_000, help="replications of each scenario file (default: its run.replications)"),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=256, help=WORKERS_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: results/compare-<first>-...)")] = None,
    set_: SetOption = None,
) -> None:
    """Compare scenarios: key indicators, differences from the first, and figures with bands."""
    from abm.analysis import compare as comparison
    from abm.infra import destinations

    if len(sources) < 2:
        raise UserError("give at least two scenarios or results folders", field="SOURCES")
    folder = out or comparison.default_folder(comparison.names(sources, set_ or ()))
    destinations.check(folder, "compare")  # before running
    entries = comparison.gather(sources, runs, workers or os.cpu_count() or 1, set_ or (), progress=True)
    folder = comparison.write(entries, folder)
    for table in _comparison_tables(comparison.table(entries), out_console.width):
        out_console.print(table)
    out_console.print(f"comparison in [bold]{folder}[/] (comparison.md, overview.png)")


def _comparison_tables(frame, width: int) -> list[Table]:
    """The key indicators in the last report year: each scenario's mean over runs, in the indicator's
    unit, and after the first scenario the difference from it; as many tables as it takes to show
    every scenario within ``width`` columns (each with the first scenario's column)."""
    from abm.sim import outcomes

    last = frame[frame["year"] == frame["year"].max()]
    scenarios = list(dict.fromkeys(last["scenario"]))
    means = last.set_index(["indicator", "scenario"])
    names = list(dict.fromkeys(last["indicator"]))

    def cell(name: str, scenario: str) -> str:
        mean = outcomes.number(name, means.at[(name, scenario), "mean"])
        if scenario == scenarios[0]:
            return mean
        return f"{mean} ({outcomes.number(name, means.at[(name, scenario), 'difference'], True)})"

    cells = {s: [cell(n, s) for n in names] for s in scenarios}
    wide = {s: max(len(s), *map(len, cells[s])) + 3 for s in scenarios}  # a column: its text, padding, border
    room = width - 1 - 24 - wide[scenarios[0]]  # the indicator column gets 24 at least (its label wraps)
    groups, group = [], []
    for scenario in scenarios[1:]:
        if group and sum(wide[s] for s in group) + wide[scenario] > room:
            groups.append(group)
            group = []
        group.append(scenario)
    groups.append(group)
    year = int(last["year"].iloc[0])
    tables = []
    for number, group in enumerate(groups, start=1):
        part = f", part {number} of {len(groups)}" if len(groups) > 1 else ""
        table = Table(
            title=f"Key indicators in {year}: mean over runs (difference from {scenarios[0]}){part}",
            caption="differences of percentages in percentage points",
        )
        table.add_column("indicator, unit", ratio=1)
        for scenario in (scenarios[0], *group):
            table.add_column(scenario, justify="right", no_wrap=True)
        for row, name in enumerate(names):
            table.add_row(outcomes.heading(name), *(cells[s][row] for s in (scenarios[0], *group)))
        tables.append(table)
    return tables


@app.command()
@user_errors
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="sweep YAML file (scenarios/sweeps/*.yaml)")],
    workers: Annotated[int | None, typer.Option(min=1, max=1024, help=WORKERS_HELP)] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")] = None,
    resume: Annotated[bool, typer.Option(help="continue an interrupted sweep: run only the missing points")] = False,
    out: Annotated[Path | None, typer.Option(help="sweep folder (default: results/sweeps/<name>)")] = None,
) -> None:
    """Run a sensitivity sweep (streamed to disk, resumable), then analyse it."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from abm.analysis import sweep as sweeps
    from abm.infra import destinations, progress

    if scheduler is not None:
        sweeps.check_scheduler(scheduler)
    spec = sweeps.load_sweep(sweep_file)
    folder = destinations.check(out or destinations.default(Path("results") / "sweeps", spec.name, sweep_file), "sweep")
    if scheduler is None:  # on a cluster, the workers' machines hold the runs
        sweeps.check_memory(spec, workers or os.cpu_count() or 1)
    columns = (
        TextColumn(f"[bold]{spec.name}[/] points"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        # drawn once the folder and the points are checked
        with progress.bar(*columns, console=err_console, total=None) as update:
            stats = sweeps.run_sweep(
                spec,
                sweep_file,
                folder,
                workers or os.cpu_count() or 1,
                scheduler,
                resume,
                on_progress=lambda done, total: update(completed=done, total=total),
            )
    except (KeyboardInterrupt, MemoryError) as err:
        saved = len(sweeps.done_points(folder)) if (folder / sweeps.PARTS).is_dir() else 0
        if isinstance(err, MemoryError):
            err_console.print(
                f"[bold red]error:[/] out of memory: {saved} points are saved in {folder}; continue "
                f"with --resume, and {MEMORY_ADVICE}",
                highlight=False,
            )
            raise typer.Exit(2) from None
        err_console.print(f"interrupted: {saved} points are saved in {folder}; continue with --resume")
        raise typer.Exit(interrupt_code(err)) from None
    out_console.print(
        f"{stats['runs']} runs ({stats['ran_points']} of {stats['points']} points) in "
        f"{stats['seconds']:.1f} s: {stats['runs_per_second']:.1f} runs/s"
    )
    _report_indices(folder)


@app.command()
@user_errors
def search(
    search_file: Annotated[Path, typer.Argument(help="search YAML file (searches/*.yaml), or a shipped search's name")],
    workers: Annotated[int | None, typer.Option(min=1, max=1024, help=WORKERS_HELP)] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue an interrupted search: archived policies are read, not run again")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="search folder (default: results/searches/<name>)")] = None,
) -> None:
    """The cheapest mix of levers reaching a target over uncertain scenarios (NSGA-II): front, figures, cheapest."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from abm.analysis.replications import resident_count
    from abm.analysis.search import report
    from abm.analysis.search.optimize import run_search
    from abm.analysis.search.spec import load_search
    from abm.analysis.sweep import check_scheduler
    from abm.infra import destinations, memory, progress
    from abm.inputs.loader import load_scenario

    if scheduler is not None:
        check_scheduler(scheduler)
    spec = load_search(search_file)
    folder = destinations.check(
        out or destinations.default(Path("results") / "searches", spec.name, search_file), "search"
    )
    processes = workers or os.cpu_count() or 1
    if scheduler is None and spec.base is not None:  # on a cluster, the workers' machines hold the runs
        base = load_scenario(spec.base_path(), list(spec.set.items()))
        memory.check(
            resident_count(base),
            workers=processes,
            file=spec.source_file,
            field="base",
            what=f"the search's runs{f' on {processes} workers' if processes > 1 else ''}",
        )
    columns = (
        TextColumn(f"[bold]{spec.name}[/] evaluations"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("gen {task.fields[generation]}, front {task.fields[front]}, hypervolume {task.fields[hv]}"),
        TimeElapsedColumn(),
    )
    try:
        with progress.bar(*columns, console=err_console, total=spec.budget, generation=0, front="-", hv="-") as update:
            outcome = run_search(
                spec,
                Path(spec.source_file),
                folder,
                processes,
                scheduler,
                resume,
                on_progress=lambda p: update(
                    completed=min(p.asked, p.budget), generation=p.generation, front=p.front, hv=f"{p.hypervolume:.3f}"
                ),
            )
    except KeyboardInterrupt as err:
        err_console.print(f"interrupted: the policies run so far are archived in {folder}; continue with --resume")
        raise typer.Exit(interrupt_code(err)) from None
    written = report.write(outcome, folder)
    rate = outcome.policies_run / outcome.seconds if outcome.seconds > 0 else 0.0
    archived = len(outcome.evaluations) - outcome.policies_run
    out_console.print(
        f"{len(outcome.evaluations)} policies searched"
        + (f" ({archived} read from the archive)" if archived else "")
        + f"; {outcome.policies_run} run in {outcome.seconds:.1f} s ({rate:.2f} policies/s); the front "
        f"run again in {outcome.final_seconds:.1f} s; {outcome.ran} runs simulated",
        highlight=False,
    )
    if written["cheapest"] is None:
        out_console.print("[bold]no policy met every constraint[/]: search.md shows the closest")
    else:
        row = written["table"][written["table"]["cheapest"]].iloc[0]
        cost = spec.cost_objective
        out_console.print(
            "cheapest meeting every constraint: "
            + ", ".join(f"{lever.name} {escape(str(row[lever.name]))}" for lever in spec.levers)
            + f"; {cost.name} {escape(report.with_band(cost, row))} {report.unit(cost)}",
            highlight=False,
        )
    out_console.print(
        f"results in [bold]{folder}[/] (search.md, front.csv, front.png"
        + (", cheapest.yaml" if written["cheapest"] and spec.base is not None else "")
        + ")"
    )


@app.command()
@user_errors
def analyze(folder: Annotated[Path, typer.Argument(help="a sweep folder")]) -> None:
    """Sensitivity indices of a finished sweep: indices.csv, indices.json and figures."""
    _report_indices(folder)


def _report_indices(folder: Path) -> None:
    from abm.analysis import sensitivity

    analysis = sensitivity.analyze_folder(folder)
    frame = analysis["indices"]
    for output in dict.fromkeys(frame["output"]) if len(frame) else []:
        part = frame[frame["output"] == output].drop(columns="output").set_index("parameter")
        out_console.print(_frame_table(part, output))
    for note in analysis["warnings"]:
        err_console.print(f"[bold yellow]warning:[/] {escape(note)}")
    out_console.print(f"indices and figures in [bold]{folder}[/]")


calibrate_app = typer.Typer(no_args_is_help=True, help="Estimate and fit the behavioural coefficients.")
app.add_typer(calibrate_app, name="calibrate")


@calibrate_app.command("survey")
@user_errors
def calibrate_survey(
    survey: Annotated[
        Path | None,
        typer.Argument(help="survey CSV following calibration/survey/codebook.yaml (default: the synthetic stand-in)"),
    ] = None,
    scenario: Annotated[
        Path, typer.Option(help="scenario whose policy and incomes apply: " + SCENARIO_HELP)
    ] = SHIPPED_BASELINE,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    targets: Annotated[Path | None, typer.Option(help=TARGETS_HELP, show_default=False)] = None,
) -> None:
    """Estimate the choice model from a survey; write fitted/coefficients.yaml and report.md."""
    from abm.analysis.fitting import pipeline
    from abm.analysis.fitting.survey import STANDIN
    from abm.inputs.loader import load_scenario

    out = _calibration_out(out)
    with err_console.status("estimating the conditional logit ..."):
        context = pipeline.calibrate_survey(load_scenario(scenario), survey or STANDIN, out, targets or TARGETS)
    out_console.print(_frame_table(context["estimate"].table(), "Conditional logit"))
    _calibration_footer(context, out, fitted=False)
    again = f" --out {escape(str(out))}" if out != checkout_calibration() else ""
    out_console.print(
        "The aggregate targets are not fitted yet: this step estimates the terms a survey identifies "
        "and puts habit, herding, the constants, the attitude dynamics, the subsidy's pull and the "
        "compounding gap back to their priors. Next step: [bold]pension-abm calibrate aggregates"
        f"{again}[/] (minutes; the README's Calibration section gives its time)",
        highlight=False,
    )


@calibrate_app.command("aggregates")
@user_errors
def calibrate_aggregates(
    budget: Annotated[int, typer.Option(min=1, help="model evaluations for the global search")] = 500,
    workers: Annotated[int | None, typer.Option(min=1, max=256, help=WORKERS_HELP)] = None,
    seeds: Annotated[int, typer.Option(min=1, help="common-random-number runs per evaluation")] = 4,
    residents: Annotated[int, typer.Option(min=100, help="simulated residents per run")] = 4000,
    scenario: Annotated[Path, typer.Option(help="scenario to fit: " + SCENARIO_HELP)] = SHIPPED_BASELINE,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    targets: Annotated[Path | None, typer.Option(help=TARGETS_HELP, show_default=False)] = None,
) -> None:
    """Fit habit, herding, constants, attitude dynamics, the subsidy's pull and the compounding gap to
    calibration/targets.yaml and the field experiments (calibration/evidence.yaml) by simulated moments."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from abm.analysis.fitting import pipeline
    from abm.infra import memory, progress
    from abm.inputs.loader import load_scenario

    spec, out = load_scenario(scenario), _calibration_out(out)
    # the experiments two simulations at once
    memory.check(residents, models=2, what="the fit's runs", field="--residents")
    columns = (
        TextColumn("fitting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best loss {task.fields[best]}"),
        TimeElapsedColumn(),
    )
    # drawn once the folder and files are checked
    with progress.bar(*columns, console=err_console, total=budget, best="-") as update:
        context = pipeline.calibrate_aggregates(
            spec,
            budget,
            seeds,
            residents,
            out,
            targets or TARGETS,
            on_evaluation=lambda n, best: update(completed=min(n, budget), best=f"{best:.3f}" if n else "-"),
            workers=workers or os.cpu_count() or 1,
        )
    _calibration_footer(context, out, fitted=True)


@calibrate_app.command("standin")
@user_errors
def calibrate_standin(
    out: Annotated[
        Path | None,
        typer.Option(
            help="CSV to write (default: the shipped stand-in, in a checkout; required where the package is installed)"
        ),
    ] = None,
    respondents: Annotated[
        int | None, typer.Option(min=50, max=1_000_000, help="respondents (default: the shipped stand-in's, 1,000)")
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 20180601,
    scenario: Annotated[
        Path, typer.Option(help="scenario whose county and policy apply: " + SCENARIO_HELP)
    ] = SHIPPED_BASELINE,
) -> None:
    """Regenerate the synthetic stand-in survey (same options: the same file)."""
    from abm.analysis.fitting.standin import RESPONDENTS, write_standin
    from abm.analysis.fitting.survey import STANDIN
    from abm.infra.destinations import check_file
    from abm.inputs.loader import load_scenario

    if out is None and checkout_calibration() is None:
        raise UserError("give --out FILE: an installed package's stand-in is not rewritten", field="--out")
    target = check_file(out or STANDIN, "# SYNTHETIC stand-in survey")
    path = write_standin(load_scenario(scenario), target, respondents or RESPONDENTS, seed)
    out_console.print(f"wrote {path}")


OUT_HELP = (
    "calibration folder to write (fitted/, report.md); default: the repository's calibration/ "
    "in a checkout; required where the package is installed"
)


def _calibration_out(out: Path | None) -> Path:
    """The folder a calibration writes: as given, else the checkout's; never the installed package."""
    folder = out or checkout_calibration()
    if folder is None:
        raise UserError(
            "give --out DIR: the package is installed, and its own calibration is not rewritten", field="--out"
        )
    return folder


def _calibration_footer(context: dict, folder: Path, fitted: bool) -> None:
    """The aggregate targets against the simulation with the coefficients written, each in its
    indicator's unit (abm/sim/outcomes.py), and the files written.

    Args:
        fitted: whether the coefficients were fitted to the targets (calibrate aggregates), or are the
            survey's estimates with priors for the rest (calibrate survey).
    """
    from abm.sim import outcomes

    table = Table(
        title="Aggregate targets: the simulation with the fitted coefficients"
        if fitted
        else "Aggregate targets, not fitted yet: the simulation with the survey's estimates and priors"
    )
    table.add_column("indicator, unit", ratio=1)
    table.add_column("year", justify="right", no_wrap=True)
    table.add_column("target ± tol.", justify="right", no_wrap=True)
    table.add_column(escape("simulated [band]"), justify="right", no_wrap=True)
    table.add_column("fit", no_wrap=True)
    table.add_column("met", no_wrap=True)
    for row in context["targets"].itertuples():
        name = row.indicator
        table.add_row(
            outcomes.heading(name),
            str(row.year),
            f"{outcomes.number(name, row.target)} ± {outcomes.number(name, row.tolerance)}",
            f"{outcomes.number(name, row.simulated)} [{outcomes.number(name, row.band_low)}, "
            f"{outcomes.number(name, row.band_high)}]",
            "yes" if row.fitted else "no",
            "[green]yes[/]" if row.met else "[red]no[/]",
        )
    out_console.print(table)
    out_console.print(
        "band: 90% over the runs; fit: whether the aggregate fit uses the target (targets.yaml)", highlight=False
    )
    out_console.print(f"wrote {folder / 'fitted' / 'coefficients.yaml'} and {folder / 'report.md'}", highlight=False)


def _frame_table(frame, title: str) -> Table:
    table = Table(title=title)
    table.add_column(frame.index.name or "")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for label, row in frame.iterrows():
        table.add_row(str(label), *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    return table


@app.command()
@user_errors
def validate(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, or a shipped scenario's name")] = Path(
        "baseline"
    ),
    runs: Annotated[int, typer.Option(min=1, max=10_000, help="replications")] = 20,
    residents: Annotated[int, typer.Option(min=100, max=1_000_000, help="simulated residents per run")] = 10_000,
    workers: Annotated[int | None, typer.Option(min=1, max=256, help=WORKERS_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: results/validate-<scenario name>)")] = None,
    facts: Annotated[
        Path | None, typer.Option(help="validation facts file (default: the shipped abm/calibration/validation.yaml)")
    ] = None,
    set_: SetOption = None,
) -> None:
    """The model with 90% bands against observed facts the calibration does not use: validation.md and figures."""
    from abm.analysis import replications
    from abm.analysis import validation as checks
    from abm.infra import destinations
    from abm.inputs.loader import load_scenario

    spec = load_scenario(scenario, [f"population.residents={residents}", *(set_ or ())])
    folder = out or destinations.default(Path("results"), f"validate-{spec.name}", scenario)
    destinations.check(folder, "validate")  # before running
    replications.check_memory(spec, runs, workers or os.cpu_count() or 1, field="--residents")
    checks.load_facts(facts or checks.FACTS)  # a bad facts file stops before running
    folder, table, seconds = checks.validate(
        spec, runs, workers or os.cpu_count() or 1, folder, facts or checks.FACTS, progress=True
    )
    inside = int((table["verdict"] == "inside").sum())
    out_console.print(
        f"{inside} of {len(table)} facts inside their observed range ({seconds:.0f} s); "
        f"report in [bold]{folder}[/] (validation.md, validation.png)"
    )


@app.command()
@user_errors
def irr(
    grade: Annotated[int, typer.Option(min=1, help="contribution grade, yuan/year")],
    entry_age: Annotated[int, typer.Option(min=16, max=70, help="age at the first contribution")],
    years: Annotated[
        int | None,
        typer.Option(min=1, max=60, help="contribution years (default: to pension age, at least the minimum)"),
    ] = None,
    scenario: Annotated[Path, typer.Option(help="scenario whose policy applies: " + SCENARIO_HELP)] = SHIPPED_BASELINE,
    year: Annotated[
        int | None,
        typer.Option(help="first contribution year (default: latest policy year; with --backpay, the launch year)"),
    ] = None,
    sex: Annotated[
        Literal["female", "male"] | None, typer.Option(help="survival of one sex (default: both averaged)")
    ] = None,
    backpay: Annotated[
        bool,
        typer.Option(
            help="the launch cohort's route: fewer than the minimum years to the "
            "pension age at launch; pay yearly until it, then back-pay the "
            "gap at the lowest grade without subsidy"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Money's worth of a grade: pension, internal rate of return and replacement rate."""
    from abm.analysis.irr import money_worth
    from abm.inputs.loader import load_scenario

    result = money_worth(load_scenario(scenario), grade, entry_age, years, year, sex, backpay)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    paid = f"{result.years} year{'s' if result.years != 1 else ''}"
    table = Table(title=f"Grade {grade} yuan/year from age {entry_age} ({paid} from {result.start_year})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("retirement age", f"{result.retirement_age} years")
    if result.backpaid_years:
        table.add_row("back-paid at the pension age", f"{result.backpaid_years} years")
    table.add_row("account pension", f"{result.monthly_account_pension:,.1f} yuan/month")
    table.add_row("pension (basic + account)", f"{result.monthly_pension:,.1f} yuan/month")
    table.add_row("internal rate of return", f"{result.irr:.2%} a year")
    table.add_row("replacement rate (pension / rural income)", f"{result.replacement_rate:.1%}")
    out_console.print(table)


@app.command()
@user_errors
def experiments(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, or a shipped scenario's name")] = Path(
        "baseline"
    ),
    year: Annotated[
        int, typer.Option(help="the year of the treatments (the scenario must run two years past it)")
    ] = 2026,
    runs: Annotated[int, typer.Option(min=1, max=10_000, help="replications")] = 10,
    residents: Annotated[int, typer.Option(min=100, max=20_000_000, help="simulated residents per run")] = 5000,
    workers: Annotated[int | None, typer.Option(min=1, max=256, help=WORKERS_HELP)] = None,
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Published field experiments replayed through the model, beside their targets (calibration/evidence.yaml)."""
    import time

    from abm.analysis import experiments as virtual
    from abm.infra import memory
    from abm.inputs.loader import load_scenario

    spec = load_scenario(scenario, set_ or ())
    virtual.check_year(spec, year, field="--year")
    processes = min(workers or os.cpu_count() or 1, 4)  # one process an experiment
    # two simulations at once a process: the next is built while the last is still held
    memory.check(
        residents,
        models=2,
        workers=processes,
        field="--residents",
        what=f"{runs} replay(s) of the experiments" + (f" on {processes} workers" if processes > 1 else ""),
    )
    started = time.perf_counter()
    table = virtual.run_all(spec, year, runs, residents, workers=processes)
    seconds = time.perf_counter() - started
    if as_json:
        print(
            json.dumps(
                {
                    "scenario": spec.name,
                    "year": year,
                    "runs": runs,
                    "residents": residents,
                    "seed": spec.run.seed,
                    "seconds": round(seconds, 3),
                    "measures": json.loads(table.to_json(orient="records")),
                }
            )
        )
        return
    out = Table(
        title=f"{spec.name}: virtual experiments in {year} ({runs} run(s) of {residents:,} residents: mean [90% band])"
    )
    for column in ("experiment", "measure", "simulated", "target", "met"):
        out.add_column(column, justify="right" if column in ("simulated", "target") else "left")
    for row in table.itertuples():
        target = row.target
        met = {True: "[green]yes[/]", False: "[red]no[/]"}.get(row.met, "")
        out.add_row(row.experiment, row.measure, virtual.simulated_text(row), escape(target), met)
    out_console.print(out)
    out_console.print(f"units and sources: --json, or {virtual.EVIDENCE.name}; {seconds:.1f} s", highlight=False)


@app.command()
@user_errors
def directions(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, or a shipped scenario's name")] = Path(
        "baseline"
    ),
    year: Annotated[int, typer.Option(help="the year the levers apply from")] = 2026,
    runs: Annotated[int, typer.Option(min=2, max=10_000, help="paired replications")] = 10,
    residents: Annotated[int, typer.Option(min=100, max=1_000_000, help="simulated residents per run")] = 5000,
    workers: Annotated[int | None, typer.Option(min=1, max=256, help=WORKERS_HELP)] = None,
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Each policy lever against the scenario over paired runs, held to the direction the evidence gives."""
    from abm.analysis import directions as checks
    from abm.infra import memory
    from abm.inputs.loader import load_scenario
    from abm.sim import outcomes

    spec = load_scenario(scenario, set_ or ())
    last = year + checks.SPAN - 1
    if not spec.start_year < year or last > spec.end_year:
        raise UserError(
            f"the levers need {year}-{last} within the scenario's {spec.start_year + 1}-{spec.end_year}", field="--year"
        )
    processes = min(workers or os.cpu_count() or 1, runs * (len(checks.DIRECTIONS) + 1))
    memory.check(residents, workers=processes, what=f"paired runs on {processes} worker(s)", field="--residents")
    with err_console.status(f"running {runs} paired runs of {len(checks.DIRECTIONS) + 1} variants ..."):
        result = checks.check(
            scenario, year, runs, residents, workers or os.cpu_count() or 1, overrides=tuple(set_ or ())
        )
    if as_json:
        print(
            json.dumps(
                {
                    "scenario": spec.name,
                    "year": year,
                    "runs": runs,
                    "residents": residents,
                    "seconds": round(result.seconds, 1),
                    "all_met": result.all_met,
                    "levers": json.loads(result.table.to_json(orient="records")),
                    "age_profile": json.loads(result.profile.to_json(orient="records")),
                }
            )
        )
        return
    out = Table(
        title=f"{spec.name}: levers from {year}, {runs} paired runs of {residents:,} residents "
        "(mean paired difference [90% band])"
    )
    for column in ("lever", "outcome", "difference", "bound", "met"):
        out.add_column(column, justify="right" if column == "difference" else "left")
    for row in result.table.itertuples():
        out.add_row(
            row.lever,
            f"{outcomes.label(row.indicator)}, {row.years}",
            checks.paired_text(row),
            row.bound,
            "[green]yes[/]" if row.met else "[red]no[/]",
        )
    out_console.print(out)
    profile = Table(title="age profile of the scenario's own runs")
    for column in ("check", "value", "bound", "met"):
        profile.add_column(column)
    for row in result.profile.itertuples():
        profile.add_row(row.check, f"{row.value:.1%}", row.bound, "[green]yes[/]" if row.met else "[red]no[/]")
    out_console.print(profile)
    out_console.print(
        f"{result.seconds:.0f} s; "
        + ("every direction holds" if result.all_met else "[red]a direction does not hold[/]"),
        highlight=False,
    )


def _check_port(host: str, port: int) -> None:
    """The page's address must be free: a port in use (or a host not of this machine) is one message."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise UserError(f"unknown host {host!r} ({err})", field="--host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closing socket is free
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} is already in use on {host}; stop what uses it or choose another --port",
                    field="--port",
                ) from None
            raise UserError(f"cannot listen on {host}:{port} ({err.strerror})", field="--host") from None


EXPLAIN_UNITS = {  # explain --json: what its numbers are
    "income": "yuan/year, per person of the household",
    "years_paid": "years of contributions",
    "awareness": "policy knowledge, 0-1",
    "trust": "trust in government, 0-1",
    "literate": "understands compound interest",
    "group": "none, disabled or poor (the groups whose grade the government may pay)",
    "last_choice": "grade paid last year, yuan/year; 0: did not pay; null: not eligible",
    "grade": "yuan/year; 0: not paying",
    "probability": "0-1",
    "utility": "logit scale; terms and mechanisms add up to it",
}


@app.command()
@user_errors
def explain(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, or a shipped scenario's name (baseline)")],
    year: Annotated[int, typer.Option(help="the year of the choice")],
    resident: Annotated[int, typer.Option(help="the resident's id (the `id` column, as on the page's map)")],
    seed: Annotated[
        int | None,
        typer.Option(min=0, help="seed of the run (default: the scenario's first replication, as `run` uses)"),
    ] = None,
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Why a resident pays what they pay: each alternative's utility split into its terms, and its probability."""
    from abm.analysis import replications
    from abm.inputs.loader import load_scenario
    from abm.inputs.scenario import replication_seeds
    from abm.sim import diagnostics

    spec = load_scenario(scenario, set_ or ())
    if not spec.start_year <= year <= spec.end_year:
        raise UserError(f"the scenario runs {spec.start_year}-{spec.end_year} (got {year})", field="--year")
    replications.check_memory(spec, 1, 1, what=f"a run of {spec.name} to {year}")
    rng = replication_seeds(spec.run.seed if seed is None else seed, 1)[0]
    model = replications.model_at(spec, year, rng)
    try:
        result = {"scenario": spec.name, "seed": rng} | diagnostics.explain(model, resident)
    except LookupError as err:
        raise UserError(str(err), field="--resident") from None
    if as_json:
        print(json.dumps(result | {"units": EXPLAIN_UNITS}))
        return
    who = result["resident"]
    last = {None: "not eligible last year", 0: "did not pay last year"}.get(
        who["last_choice"], f"paid {who['last_choice']} yuan last year"
    )
    out_console.print(
        f"{spec.name}, {year}: resident {resident}, {who['sex']}, age {who['age']}, income "
        f"{who['income']:,.0f} yuan/year, {who['years_paid']} years paid, {last}; awareness "
        f"{who['awareness']:.2f} and trust {who['trust']:.2f} (0-1); "
        f"{'understands' if who['literate'] else 'does not understand'} compound interest"
        + ("" if who["group"] == "none" else f"; group: {who['group']}"),
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0))  # eleven columns in 80
    table.add_column("grade")
    table.add_column("prob.", justify="right", no_wrap=True)
    table.add_column("utility", justify="right", no_wrap=True)
    mechanisms = list(result["alternatives"][0]["mechanisms"])
    for name in mechanisms:
        table.add_column(name, justify="right", no_wrap=True)
    for alternative in result["alternatives"]:
        table.add_row(
            "not paying" if alternative["grade"] == 0 else str(alternative["grade"]),
            f"{alternative['probability']:.1%}",
            f"{alternative['utility']:.2f}",
            *(f"{alternative['mechanisms'][m]:.2f}" for m in mechanisms),
        )
    out_console.print(table)
    out_console.print(
        "grade in yuan/year; prob.: the probability of choosing it; utility: the sum of its parts by "
        "mechanism: cost (grade / income), basic (the basic pension kept within reach), account (what "
        "grade + subsidy buy), subsidy, habit (last year's choice), peers (the village), default "
        "(lowest and top grade), paying (attitudes, age, income, health); --json gives every term",
        highlight=False,
    )


@app.command()
@user_errors
def viz(
    scenario: Annotated[
        str, typer.Argument(help="scenario file the page starts from, or a shipped scenario's name")
    ] = "baseline",
    host: Annotated[
        str, typer.Option(help="address to listen on; 0.0.0.0 exposes the page to the network")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
) -> None:
    """Watch and steer a county in the browser (SolaraViz): map, charts, policy levers."""
    from abm.viz import server

    checked = server.checked_scenario(scenario)
    _check_port(host, port)
    missing = server.missing_assets()
    if missing:
        err_console.print(
            f"[yellow]warning:[/] front-end files missing ({', '.join(missing)}): the page will try "
            f"the internet; `pip install {server.ASSETS_PACKAGE}` (the version pyproject.toml pins) "
            "serves them offline"
        )
    out_console.print(f"pension-abm page on [bold]http://{host}:{port}[/] (Ctrl-C stops it)")
    raise typer.Exit(server.serve(checked, host, port))  # Ctrl-C: the server is stopped, exit 130 as every command
