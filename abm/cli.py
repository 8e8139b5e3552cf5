"""The pension-abm command line: run scenarios, and the money's worth of a grade."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from abm.errors import UserError
from abm.model import DEFAULT_SCENARIO

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Simulate enrolment and contribution grades in the urban-rural residents' pension.")
out_console, err_console = Console(), Console(stderr=True)


def user_errors(command):
    """Bad input ends with one message and exit code 2, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as err:
            err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
            raise typer.Exit(2) from None
    return wrapper


@app.command()
@user_errors
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    seed: Annotated[int | None, typer.Option(min=0, help="random seed (default: the scenario's)")] = None,
    out: Annotated[Path | None, typer.Option(help="results folder (default: results/<scenario name>)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar or summary table")] = False,
) -> None:
    """Run one scenario and write its results folder."""
    from abm import runner
    from abm.scenario import load_scenario

    spec = load_scenario(scenario)
    result = runner.run(spec, seed=seed, progress=not quiet)
    folder = runner.write(result, out or Path("results") / spec.name)
    if not quiet:
        out_console.print(_summary_table(result.summary()))
        out_console.print(f"{len(result.scenario.years)} years in {result.seconds:.1f} s; "
                          f"results in [bold]{folder}[/]")


def _summary_table(summary: dict) -> Table:
    indicators = summary["indicators"]
    years = list(next(iter(indicators.values())))
    table = Table(title=f"{summary['scenario']} (seed {summary['seed']})")
    table.add_column("indicator")
    for year in years:
        table.add_column(year, justify="right")
    for name, values in indicators.items():
        table.add_row(name, *(_fmt(name, values[y]) for y in years))
    return table


def _fmt(name: str, value: float) -> str:
    if name.endswith(("_rate", "_share", "_coverage")):
        return f"{value:.1%}"
    if name in ("fund_balance", "public_spending"):
        return f"{value / 1e6:,.1f} M"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


@app.command()
@user_errors
def irr(
    grade: Annotated[int, typer.Option(min=1, help="contribution grade, yuan/year")],
    entry_age: Annotated[int, typer.Option(min=16, max=70, help="age at the first contribution")],
    years: Annotated[int | None, typer.Option(min=1, max=60, help="contribution years "
                                             "(default: to pension age, at least the minimum)")] = None,
    scenario: Annotated[Path, typer.Option(help="scenario whose policy applies")] = DEFAULT_SCENARIO,
    year: Annotated[int | None, typer.Option(help="first contribution year (default: latest policy year)")] = None,
    sex: Annotated[Literal["female", "male"] | None, typer.Option(help="survival of one sex "
                                                                 "(default: both averaged)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Money's worth of a grade: pension, internal rate of return and replacement rate."""
    from abm.irr import money_worth
    from abm.scenario import load_scenario

    result = money_worth(load_scenario(scenario), grade, entry_age, years, year, sex)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    table = Table(title=f"Grade {grade} yuan/year from age {entry_age} ({result.years} years from {result.start_year})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("retirement age", str(result.retirement_age))
    table.add_row("monthly account pension", f"{result.monthly_account_pension:,.1f} yuan")
    table.add_row("monthly pension (basic + account)", f"{result.monthly_pension:,.1f} yuan")
    table.add_row("internal rate of return", f"{result.irr:.2%}")
    table.add_row("replacement rate", f"{result.replacement_rate:.1%}")
    out_console.print(table)
