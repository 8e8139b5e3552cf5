"""A search's results: front.csv, evaluations.parquet, convergence.csv, the figures (front, levers,
convergence), cheapest.yaml (the cheapest policy meeting every constraint, as a scenario extending the
base) and search.md (the answer in words and tables), written together into the search folder."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from abm.analysis.bands import BAND
from abm.analysis.plots import save
from abm.analysis.search.optimize import Outcome
from abm.analysis.search.problem import codes_of, overrides
from abm.analysis.search.spec import Measure, Search
from abm.infra import atomic, destinations
from abm.inputs.datafiles import SCENARIOS_DIR, dump

CHEAPEST = "cheapest.yaml"
FILES = (
    "front.csv",
    "evaluations.parquet",
    "convergence.csv",
    "front.png",
    "levers.png",
    "convergence.png",
    "search.md",
)


# --- numbers in their units -------------------------------------------------------------------------


def unit(measure: Measure) -> str:
    """The unit a measure is shown in: its indicator's (abm/sim/outcomes.py), a sum over years without '/year'."""
    from abm.sim import outcomes

    try:
        shown = outcomes.shown_unit(measure.indicator)
    except KeyError:
        return ""
    return shown.removesuffix("/year") if measure.statistic == "sum" else shown


def number(measure: Measure, value: float, signed: bool = False) -> str:
    from abm.sim import outcomes

    try:
        return outcomes.number(measure.indicator, value, signed)
    except KeyError:
        return f"{value:{'+' if signed else ''}.4g}"


def scale(measure: Measure) -> float:
    from abm.sim import outcomes

    try:
        return outcomes.scale(measure.indicator)
    except KeyError:
        return 1.0


def heading(measure: Measure) -> str:
    shown = unit(measure)
    return f"{measure.name}, {shown}" if shown else measure.name


def with_band(measure: Measure, row) -> str:
    return (
        f"{number(measure, row[measure.name])} [{number(measure, row[f'{measure.name}_low'])}, "
        f"{number(measure, row[f'{measure.name}_high'])}]"
    )


# --- tables -----------------------------------------------------------------------------------------


def lever_columns(search: Search, keys: pd.Series) -> pd.DataFrame:
    """The levers of each policy as values (numbers, on/off) or their labels (choices)."""
    codes = [codes_of(k) for k in keys]
    columns = {}
    for i, lever in enumerate(search.levers):
        if lever.type == "choice":
            columns[lever.name] = [lever.shown(c[i]) for c in codes]
        else:
            columns[lever.name] = [lever.value(c[i]) for c in codes]
    return pd.DataFrame(columns, index=keys.index)


def front_table(outcome: Outcome) -> pd.DataFrame:
    """front.csv: the policies run again, sorted by cost: levers, each measure over all runs with its 90%
    band and its search-stage value, the constraints' margins, feasible, non-dominated, cheapest."""
    search, final = outcome.search, outcome.final
    if final.empty:
        return final
    cost = search.cost_objective.name
    searched = outcome.evaluations.set_index("key")
    table = pd.concat([final[["key"]], lever_columns(search, final["key"])], axis=1)
    for measure in search.measures:
        table[measure.name] = final[measure.name]
        table[f"{measure.name}_low"] = final[f"{measure.name}_low"]
        table[f"{measure.name}_high"] = final[f"{measure.name}_high"]
        table[f"{measure.name}_search"] = searched.loc[final["key"], measure.name].to_numpy()
    for constraint in search.constraints:
        table[f"{constraint.name}_margin"] = final[f"{constraint.name}_margin"]
    table["runs"] = final["runs"]
    table["search_front"] = searched.loc[final["key"], "search_front"].to_numpy()
    table["feasible"] = final["feasible"]
    table["non_dominated"] = final["non_dominated"]
    cheapest = cheapest_key(outcome)
    table["cheapest"] = table["key"] == cheapest
    return table.sort_values([cost, "key"]).reset_index(drop=True)


def cheapest_key(outcome: Outcome) -> str | None:
    """The policy of the re-run with the least cost among those meeting every constraint (None: none does)."""
    final = outcome.final
    if final.empty or not final["feasible"].any():
        return None
    return str(final[final["feasible"]].sort_values([outcome.search.cost_objective.name, "key"])["key"].iloc[0])


def evaluations_table(outcome: Outcome) -> pd.DataFrame:
    """evaluations.parquet: every distinct policy the search ran, with its search-stage scores."""
    evaluations = outcome.evaluations
    levers = lever_columns(outcome.search, evaluations["key"])
    levers.columns = [f"lever_{c}" for c in levers.columns]
    for column in levers:  # choices' labels and numbers apart: a column holds one type
        if levers[column].map(type).nunique() > 1:
            levers[column] = levers[column].map(lambda v: json.dumps(v) if isinstance(v, list | dict) else str(v))
    return pd.concat([evaluations, levers], axis=1)


# --- cheapest.yaml ----------------------------------------------------------------------------------


def cheapest_scenario(outcome: Outcome, key: str) -> str:
    """The cheapest policy as a scenario file: the base extended by the fixed overrides and the levers, run
    with the final stage's seed and replications (so ``pension-abm run`` gives its scenario-0 runs)."""
    from abm.inputs.loader import set_path

    search = outcome.search
    base = search.base_path().resolve()
    ref = base.stem if base.parent == SCENARIOS_DIR.resolve() else str(base)
    data: dict = {
        "extends": ref,
        "name": f"{search.name}-cheapest"[:64],
        "description": f"the cheapest policy of search {search.name} meeting every constraint",
    }
    for path, value in overrides(search, codes_of(key)):
        set_path(data, path, value)
    run = data.setdefault("run", {})
    run.update({"seed": search.seed, "replications": search.final_replications})
    levers = ", ".join(f"{lever.name} {lever.shown(c)}" for lever, c in zip(search.levers, codes_of(key)))
    head = (
        f"# The cheapest policy of search {search.name} meeting every constraint ({levers}).\n"
        f"# `pension-abm run cheapest.yaml` runs it on the base scenario with the seeds of the search's final "
        f"stage.\n"
    )
    return head + dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)


def _check_cheapest(outcome: Outcome, key: str, path: Path) -> None:
    """cheapest.yaml must load to the very scenario the search ran (name, description and run aside)."""
    from abm.inputs.loader import load_scenario

    ran = load_scenario(outcome.search.base_path(), overrides(outcome.search, codes_of(key)))
    written = load_scenario(path)
    strip = {"name", "description", "run"}
    if ran.model_dump(exclude=strip) != written.model_dump(exclude=strip):
        raise RuntimeError(f"{path} does not load to the scenario the search ran")


# --- figures ----------------------------------------------------------------------------------------


def _axes_measures(search: Search) -> list[Measure]:
    """The measures of the front figure (x, y, colour): the cost, the other objectives, the measures only
    reported, the constraints."""
    cost = search.cost_objective
    return [cost, *[o for o in search.objectives if o is not cost], *search.reported, *search.constraints]


def front_figure(outcome: Outcome, table: pd.DataFrame):
    search = outcome.search
    measures = _axes_measures(search)
    x, y = measures[0], measures[1] if len(measures) > 1 else measures[0]
    colour = measures[2] if len(measures) > 2 else None
    fig = Figure(figsize=(8.5, 6))
    ax = fig.subplots()
    every = outcome.evaluations
    ax.scatter(every[x.name] * scale(x), every[y.name] * scale(y), s=8, color="0.8", label="evaluated (search)")
    if not table.empty:
        values = table[colour.name] * scale(colour) if colour is not None else None
        for _, row in table.iterrows():
            ax.errorbar(
                row[x.name] * scale(x),
                row[y.name] * scale(y),
                xerr=[
                    [(row[x.name] - row[f"{x.name}_low"]) * scale(x)],
                    [(row[f"{x.name}_high"] - row[x.name]) * scale(x)],
                ],
                yerr=[
                    [(row[y.name] - row[f"{y.name}_low"]) * scale(y)],
                    [(row[f"{y.name}_high"] - row[y.name]) * scale(y)],
                ],
                color="0.5",
                lw=0.6,
                zorder=2,
            )
        points = ax.scatter(
            table[x.name] * scale(x),
            table[y.name] * scale(y),
            c=values,
            cmap="viridis",
            s=40,
            edgecolor=np.where(table["feasible"], "black", "red"),
            zorder=3,
            label="re-run (90% bands; red edge: a constraint not met)",
        )
        if colour is not None:
            fig.colorbar(points, ax=ax, label=f"{colour.describe()}, {unit(colour)}")
        best = table[table["cheapest"]]
        if not best.empty:
            ax.scatter(
                best[x.name] * scale(x),
                best[y.name] * scale(y),
                marker="*",
                s=300,
                color="crimson",
                edgecolor="black",
                zorder=4,
                label="cheapest meeting every constraint",
            )
    if not outcome.reference.empty:
        ref = outcome.reference.iloc[0]
        ax.scatter(
            [ref[x.name] * scale(x)],
            [ref[y.name] * scale(y)],
            marker="X",
            s=120,
            color="black",
            zorder=4,
            label="base scenario as written",
        )
    for constraint in search.constraints:
        if constraint.name == y.name or (
            constraint.indicator == y.indicator
            and constraint.statistic == y.statistic
            and constraint.years == y.years
            and constraint.year == y.year
        ):
            ax.axhline(
                constraint.bound * scale(y),
                color="crimson",
                ls="--",
                lw=1,
                label=f"{constraint.name}: its bound (on the {constraint.over_runs()})",
            )
    ax.set_xlabel(f"{x.describe()}, {unit(x)}" if unit(x) else x.describe())
    ax.set_ylabel(f"{y.describe()}, {unit(y)}" if unit(y) else y.describe())
    ax.set_title(f"search {search.name}: the front run again")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def levers_figure(outcome: Outcome, table: pd.DataFrame):
    """Parallel coordinates of the re-run policies' levers, each axis its domain (low to high, first
    to last choice, off to on), lines coloured by cost, the cheapest in black."""
    search = outcome.search
    levers = search.levers
    fig = Figure(figsize=(max(6.0, 1.6 * len(levers) + 2), 5))
    ax = fig.subplots()
    cost = search.cost_objective
    if not table.empty:
        costs = table[cost.name].to_numpy()
        span = (costs.max() - costs.min()) or 1.0
        cmap = matplotlib.colormaps["viridis"]
        for _, row in table.iterrows():
            codes = codes_of(row["key"])
            positions = [lever.position(c) for lever, c in zip(levers, codes)]
            style = (
                {"color": "black", "lw": 3, "zorder": 3}
                if row["cheapest"]
                else {"color": cmap((row[cost.name] - costs.min()) / span), "lw": 1.2, "alpha": 0.8}
            )
            ax.plot(range(len(levers)), positions, marker="o", **style)
        mappable = ScalarMappable(cmap=cmap, norm=Normalize(costs.min() * scale(cost), costs.max() * scale(cost)))
        fig.colorbar(mappable, ax=ax, label=f"{cost.name}, {unit(cost)}")
    for i, lever in enumerate(levers):
        ax.axvline(i, color="0.6", lw=0.8)
        low = lever.shown(0 if lever.size else lever.bounds[0])
        high = lever.shown((lever.size - 1) if lever.size else lever.bounds[1])
        ax.annotate(_short(low), (i, -0.04), ha="center", va="top", fontsize=7)
        ax.annotate(_short(high), (i, 1.04), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(levers)), [lever.name for lever in levers], rotation=20, fontsize=8)
    ax.set_ylim(-0.15, 1.15)
    ax.set_yticks([0, 1], ["low / first / off", "high / last / on"], fontsize=7)
    ax.set_title(
        f"search {search.name}: levers of the front (black: the cheapest meeting every constraint)", fontsize=10
    )
    fig.tight_layout()
    return fig


def _short(text: str, keep: int = 18) -> str:
    return text if len(text) <= keep else text[: keep - 1] + "…"


def convergence_figure(outcome: Outcome):
    from abm.analysis.search.optimize import _scale, front_of, hypervolume

    search, evaluations = outcome.search, outcome.evaluations
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if not outcome.generations.empty:
        scale_ = _scale(search, evaluations)
        volumes = []
        for generation in outcome.generations["generation"]:
            seen = evaluations[evaluations["generation"] <= generation].reset_index(drop=True)
            volumes.append(hypervolume(search, seen.loc[front_of(search, seen)], scale_))
        ax.plot(outcome.generations["generation"], volumes, marker="o", color="tab:blue")
        twin = ax.twinx()
        twin.step(outcome.generations["generation"], outcome.generations["front"], where="mid", color="tab:orange")
        twin.set_ylabel("feasible policies on the front", color="tab:orange")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume of the front\n(objectives scaled to the search's range)", color="tab:blue")
    ax.set_title(f"search {search.name}: convergence")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --- search.md --------------------------------------------------------------------------------------


def markdown(outcome: Outcome, table: pd.DataFrame, cheapest: str | None) -> str:
    search = outcome.search
    lines = [f"# Search `{search.name}`", ""]
    if search.description:
        lines += [search.description, ""]
    goals = "; ".join(f"{o.direction} {o.describe()}" for o in search.objectives)
    scenarios = len(outcome.problem.scenarios)
    lines += [
        f"**Question.** Levers {', '.join(f'`{lever.name}`' for lever in search.levers)}; objectives: {goals}"
        + (f"; constraints: {'; '.join(c.text() for c in search.constraints)}" if search.constraints else "")
        + (f"; also reported: {'; '.join(m.describe() for m in search.reported)}" if search.reported else "")
        + "."
    ]
    if search.base is not None:
        uncertain = ", ".join(
            f"`{u.name}` ({u.field}, {u.bounds[0]:g} to {u.bounds[1]:g})" for u in search.uncertainties
        )
        lines += [
            "",
            f"Every policy ran on {scenarios} scenario{'s' if scenarios > 1 else ''} (the base as written"
            + (f" and {search.scenarios} sampled once by Latin hypercube over {uncertain}" if search.scenarios else "")
            + f") with {search.replications} replication(s) each in the search and "
            f"{search.final_replications} in the final re-run, the same seeds (and the same draws of the "
            "behaviour coefficients from their estimates' uncertainty) for every policy.",
        ]
    lines += [""]
    runs_final = scenarios * search.final_replications
    if cheapest is not None:
        row = table[table["key"] == cheapest].iloc[0]
        levers = ", ".join(
            f"`{lever.name}` {lever.shown(c)}{f' {lever.unit}' if lever.unit else ''}"
            for lever, c in zip(search.levers, codes_of(cheapest))
        )
        lines += [
            "## Answer",
            "",
            f"The cheapest policy meeting every constraint over the re-run's {runs_final} runs: {levers}.",
            "",
        ]
        rows = [
            [
                m.describe(),
                unit(m),
                with_band(m, row),
                number(m, row[f"{m.name}_margin"], signed=True) if f"{m.name}_margin" in row else "",
            ]
            for m in search.measures
        ]
        lines += _md_table(["measure", "unit", "value [90% band over runs]", "margin"], rows)
        if search.base is not None:
            lines += [
                "",
                f"`{CHEAPEST}` holds it as a scenario extending the base; `pension-abm run {CHEAPEST}` "
                f"runs it with the final stage's seed and {search.final_replications} replications: the "
                "base-scenario runs of the re-run.",
            ]
    else:
        lines += [
            "## Answer",
            "",
            "**No policy met every constraint** in the re-run. The policies closest to them "
            "(the smallest shortfall, each constraint relative to its bound) are in the table below.",
        ]
    if not outcome.reference.empty:
        ref = outcome.reference.iloc[0]
        met = "meets every constraint" if ref["feasible"] else "does not meet every constraint"
        lines += [
            "",
            "The base scenario as written (no lever set), on the same runs: "
            + "; ".join(f"{m.name} {with_band(m, ref)} {unit(m)}" for m in search.measures)
            + f"; it {met}.",
        ]
    lines += ["", f"## The front, run again ({runs_final} runs per policy)", ""]
    if not table.empty:
        header = [*(lever.name for lever in search.levers), *(heading(m) for m in search.measures), "met", "front"]
        rows = []
        for _, row in table.iterrows():
            codes = codes_of(row["key"])
            rows.append(
                [
                    *(lever.shown(c) for lever, c in zip(search.levers, codes)),
                    *(with_band(m, row) for m in search.measures),
                    "yes" if row["feasible"] else "no",
                    "yes" if row["non_dominated"] else "no",
                ]
            )
        lines += _md_table(header, rows)
        lines += [
            "",
            f"Values: {', '.join(m.over_runs() for m in search.measures[:1])} unless the measure says a "
            f"percentile; bands: {100 * BAND[0]:.0f}th to {100 * BAND[1]:.0f}th percentile over runs. "
            "met: every constraint met in the re-run; front: no other re-run policy meeting every constraint "
            "is better in every objective.",
        ]
    asked = int(outcome.generations["asked"].iloc[-1]) if not outcome.generations.empty else 0
    lines += [
        "",
        "## The search",
        "",
        f"{search.algorithm.upper()} (pymoo), population {search.population}, seed {search.seed}: "
        f"{len(outcome.generations)} generations, {asked} evaluations asked for (budget {search.budget}), "
        f"{len(outcome.evaluations)} distinct policies run (a policy asked for again is read from the archive). "
        + changed(outcome, table),
    ]
    if search.base is not None:
        lines += ["", "Uncertain scenarios (`scenarios.csv`):", ""]
        from abm.analysis.search.problem import scenario_table

        scen = scenario_table(search)
        lines += _md_table(list(scen.columns), [[_cell(v) for v in row] for row in scen.itertuples(index=False)])
    return "\n".join(lines) + "\n"


def changed(outcome: Outcome, table: pd.DataFrame) -> str:
    """How the front changed when run again: what was run again, and what still meets every constraint and
    stays on the front."""
    front = int(outcome.evaluations["search_front"].sum())
    if table.empty:
        return "Nothing was run again."
    again = int(table["search_front"].sum())
    near = len(table) - again
    kept = int((table["search_front"] & table["feasible"] & table["non_dominated"]).sum())
    gained = int((~table["search_front"] & table["feasible"] & table["non_dominated"]).sum())
    spread = f" (spread along {outcome.search.cost_objective.name})" if again < front else ""
    if not front:
        return (
            f"No policy met every constraint in the search; the {len(table)} closest were run again, and "
            f"{int(table['feasible'].sum())} of them meet every constraint over more runs."
        )
    return (
        f"The search's front held {front} policies; {again} of them were run again{spread}, and {near} near "
        f"misses (cheaper, a constraint missed by the least in the search). Over the re-run's runs {kept} of the "
        f"{again} still meet every constraint and stay on the front, and {gained} of the near misses join it."
    )


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    return [
        "| " + " | ".join(map(escape, header)) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(map(escape, row)) + " |" for row in rows),
    ]


# --- the folder -------------------------------------------------------------------------------------


def write(outcome: Outcome, out: Path, extra: dict | None = None) -> dict:
    """Write the results into the search folder (all files replaced together); returns what the command prints."""
    table = front_table(outcome)
    cheapest = cheapest_key(outcome)
    with atomic.files(out) as staging:
        table.to_csv(staging / "front.csv", index=False)
        evaluations_table(outcome).to_parquet(staging / "evaluations.parquet", index=False)
        outcome.generations.to_csv(staging / "convergence.csv", index=False)
        save(front_figure(outcome, table), staging / "front.png")
        save(levers_figure(outcome, table), staging / "levers.png")
        save(convergence_figure(outcome), staging / "convergence.png")
        if cheapest is not None and outcome.search.base is not None:
            (staging / CHEAPEST).write_text(cheapest_scenario(outcome, cheapest), encoding="utf-8")
            _check_cheapest(outcome, cheapest, staging / CHEAPEST)
        (staging / "search.md").write_text(markdown(outcome, table, cheapest), encoding="utf-8")
        meta = {
            **destinations.marker("search"),
            "search": outcome.search.name,
            "seed": outcome.search.seed,
            "search_seconds": round(outcome.seconds, 3),
            "final_seconds": round(outcome.final_seconds, 3),
            "policies": len(outcome.evaluations),
            "policies_run_this_invocation": outcome.policies_run,
            "runs_this_invocation": outcome.ran,
            **(extra or {}),
        }
        (staging / destinations.MARKER).write_text(json.dumps(meta, indent=2))
    stale = out / CHEAPEST
    if cheapest is None and stale.exists():  # an earlier invocation's answer no longer holds
        stale.unlink()
    return {"table": table, "cheapest": cheapest}
