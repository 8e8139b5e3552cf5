"""Validation: the model, with 90% bands over replications, against observed facts it was not fitted to."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis import irr, replications
from abm.analysis.bands import bands
from abm.analysis.plots import save
from abm.infra import atomic, destinations, tables
from abm.infra.errors import UserError
from abm.inputs.datafiles import CALIBRATION_DIR, read_yaml
from abm.inputs.scenario import Scenario
from abm.sim import outcomes
from abm.sim.fund import MONTHS

FACTS = CALIBRATION_DIR / "validation.yaml"


@dataclass(frozen=True)
class Measure:
    meaning: str  # what the model computes, per run and year (from the time series)
    unit: outcomes.Unit  # how its values are shown


MEASURES = {
    "beneficiary_share": Measure("pensioners / participants", outcomes.indicator("beneficiary_share").unit),
    "revenue_to_spending": Measure(
        "(own money + public money + interest) / (basic pension + account pensions + payments after exhaustion)",
        outcomes.RATIO,
    ),
    "balance_to_spending": Measure("closing fund balance / spending", outcomes.RATIO),
    "balance_per_participant": Measure("closing fund balance / participants, yuan", outcomes.YUAN_PERSON),
    "subsidy_share_of_revenue": Measure("public money / revenue", outcomes.PERCENT),
    "basic_replacement_rate": Measure("12 x mean basic pension / mean rural income", outcomes.PERCENT),
    "irr": Measure(
        "pension-abm irr for the fact's grade, entry age and route (deterministic, expected values)", outcomes.PERCENT
    ),
    "crude_death_rate": Measure(
        "deaths (all ages) / the mean of the population at the start and the end of the year, per person",
        outcomes.PER_MILLE,
    ),
}
REQUIRED = ("name", "measure", "year", "value", "range", "unit", "source", "checked", "comparability")
OPTIONAL = ("from", "grade", "entry_age", "backpay")


@dataclass(frozen=True)
class Fact:
    name: str
    measure: str
    year: int
    value: float
    range: tuple[float, float]
    unit: str
    source: str
    checked: str
    comparability: str
    derived_from: str = ""
    grade: int | None = None
    entry_age: int | None = None
    backpay: bool = False


def load_facts(path: Path = FACTS) -> list[Fact]:
    """The facts of a validation file, each field checked; a UserError names the file and field."""
    data = read_yaml(path)
    entries = data.get("facts") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UserError("expected 'facts:' with a list of facts", file=path, field="facts")
    facts, names = [], set()
    for i, entry in enumerate(entries):
        where = f"facts[{i}]"
        if not isinstance(entry, dict):
            raise UserError("expected a mapping of fields", file=path, field=where)
        unknown = set(entry) - set(REQUIRED) - set(OPTIONAL)
        if unknown:
            raise UserError(
                f"unknown field; allowed: {', '.join(REQUIRED + OPTIONAL)}",
                file=path,
                field=f"{where}.{sorted(unknown)[0]}",
            )
        for name in REQUIRED:
            if name not in entry:
                raise UserError("required field is missing", file=path, field=f"{where}.{name}")
        if entry["measure"] not in MEASURES:
            raise UserError(
                f"unknown measure {entry['measure']!r}; allowed: {', '.join(MEASURES)}",
                file=path,
                field=f"{where}.measure",
            )
        if isinstance(entry["year"], bool) or not isinstance(entry["year"], int):
            raise UserError(f"expected a year, e.g. 2018, got {entry['year']!r}", file=path, field=f"{where}.year")
        low_high = entry["range"]
        for name, value in (
            ("value", entry["value"]),
            *((f"range[{k}]", v) for k, v in enumerate(low_high if isinstance(low_high, list) else [])),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise UserError(f"expected a finite number, got {value!r}", file=path, field=f"{where}.{name}")
        if not isinstance(low_high, list) or len(low_high) != 2 or not low_high[0] <= entry["value"] <= low_high[1]:
            raise UserError(
                f"expected [low, high] around the value {entry['value']!r}, got {low_high!r}",
                file=path,
                field=f"{where}.range",
            )
        for name in ("name", "unit", "source", "checked", "comparability"):
            if not isinstance(entry[name], str) or not entry[name].strip():
                raise UserError("expected a non-empty text", file=path, field=f"{where}.{name}")
        if entry["name"] in names:
            raise UserError(f"name {entry['name']!r} is given twice", file=path, field=f"{where}.name")
        names.add(entry["name"])
        if entry["measure"] == "irr":
            for name in ("grade", "entry_age"):
                if isinstance(entry.get(name), bool) or not isinstance(entry.get(name), int):
                    raise UserError("an irr fact needs a whole number here", file=path, field=f"{where}.{name}")
        facts.append(
            Fact(
                entry["name"],
                entry["measure"],
                entry["year"],
                float(entry["value"]),
                (float(low_high[0]), float(low_high[1])),
                entry["unit"],
                entry["source"],
                entry["checked"],
                entry["comparability"],
                str(entry.get("from", "")),
                entry.get("grade"),
                entry.get("entry_age"),
                bool(entry.get("backpay", False)),
            )
        )
    return facts


def measures(ts: pd.DataFrame) -> pd.DataFrame:
    """The model's side of each time-series measure, one row per run and year."""
    revenue = ts["contributions"] + ts["backpayments"] + ts["public_spending"] + ts["interest"]
    spending = (
        ts["public_basic_pension_central"]
        + ts["public_basic_pension_local"]
        + ts["public_bonus"]
        + ts["account_pensions"]
        + ts["public_after_exhaustion"]
    )
    spent = spending.where(spending > 0)
    before = ts.groupby("run")["population"].shift(1)  # the first year's start is not in the series
    return pd.DataFrame(
        {
            "run": ts["run"],
            "year": ts["year"],
            "beneficiary_share": ts["beneficiary_share"],
            "revenue_to_spending": revenue / spent,
            "balance_to_spending": ts["fund_balance"] / spent,
            "balance_per_participant": ts["fund_balance"] / ts["participants"].where(ts["participants"] > 0),
            "subsidy_share_of_revenue": ts["public_spending"] / revenue.where(revenue > 0),
            "basic_replacement_rate": MONTHS * ts["mean_basic_pension"] / ts["mean_income"],
            "crude_death_rate": ts["deaths"] / ((before + ts["population"]) / 2),
        }
    )


def compare(scenario: Scenario, facts: list[Fact], timeseries: pd.DataFrame) -> pd.DataFrame:
    """Each fact beside the model's mean and 90% band over runs, and whether the mean lies in the range."""
    series = measures(timeseries)
    rows = []
    for fact in facts:
        if fact.measure == "irr":
            worth = irr.money_worth(scenario, fact.grade, fact.entry_age, start_year=fact.year, backpay=fact.backpay)
            mean = low = high = worth.irr
        else:
            values = series.loc[series["year"] == fact.year, fact.measure].dropna()
            if values.empty:
                raise UserError(
                    f"the model has no value of {fact.measure} in {fact.year} (the scenario runs "
                    f"{scenario.start_year}-{scenario.end_year})",
                    field=fact.name,
                )
            mean, low, high = bands(values)
        inside = fact.range[0] <= mean <= fact.range[1]
        side = "inside" if inside else ("below" if mean < fact.range[0] else "above")
        rows.append(
            {
                "name": fact.name,
                "measure": fact.measure,
                "year": fact.year,
                "observed": fact.value,
                "range_low": fact.range[0],
                "range_high": fact.range[1],
                "model": mean,
                "model_low": low,
                "model_high": high,
                "verdict": side,
                "checked": "no"
                if fact.checked.startswith("unchecked")
                else "partly"
                if "unchecked" in fact.checked
                else "yes",
            }
        )
    return pd.DataFrame(rows)


def _fmt(measure: str, value: float) -> str:
    """A measure's value in its shown unit, with the unit where it is a symbol: "12.3%", "6.52‰", "1.85"."""
    return MEASURES[measure].unit.marked(value)


WHY = {  # why the model may lie outside, by measure and side (from what the baseline's runs show)
    ("beneficiary_share", "above"): "Qi County's scheme started in 2011 with everyone 60+ drawing at once and "
    "few young enrolling; nationally the 2009 pilot counties enrolled the young earlier (family binding)",
    ("beneficiary_share", "below"): "Qi County's population is younger than rural China's (65+ 8.3% in 2010), "
    "and under the rural life table fewer of its old live on to draw",
    ("revenue_to_spending", "below"): "the county pays the national minimum with Shanxi's small top-up and the "
    "flat 30/60 subsidies; provinces add tiered subsidies and top-ups that raise revenue; most residents pay "
    "the lowest grade",
    ("revenue_to_spending", "above"): "the model's spending is small against its revenue: the national minimum "
    "basic pension with Shanxi's top-up (10 yuan/month from 2013, 15 from 2018, 20 from 2022), where many "
    "provinces add more and funeral grants add 2-3%, paid to fewer pensioners per participant than the nation "
    "has (the model's beneficiary share is 2-5 points below the national ratios), and a pension starting in a "
    "year is paid from July only",
    ("balance_to_spending", "below"): "the county's fund started in July 2011, the national one in 2009 (two more "
    "years of contributions before the pensions grew); no provincial subsidies on higher grades",
    ("balance_to_spending", "above"): "a year's spending is small against the accounts: the national minimum "
    "basic pension with Shanxi's top-up only (many provinces add more), paid to fewer pensioners per participant "
    "than the nation has (the county is younger and the rural life table thins its old: the model's beneficiary "
    "share is 2-5 points below the national ratios), and new pensioners draw from July only",
    ("balance_per_participant", "below"): "Shanxi county incomes and grades are below the national mix; the "
    "national fund is two years older and carries provincial tiered subsidies",
    ("balance_per_participant", "above"): "the county has fewer pensioners drawing on accounts than the nation",
    ("subsidy_share_of_revenue", "below"): "the county's public money is the national minimum basic pension with "
    "Shanxi's small top-up and the flat subsidy (no tiered subsidies), for fewer pensioners per participant than "
    "the nation has",
    ("subsidy_share_of_revenue", "above"): "residents pay mostly the lowest grade, so own money is small",
    ("basic_replacement_rate", "below"): "Shanxi's rural income is compared with the national minimum and Shanxi's "
    "top-up only, where the studies' provinces add more",
    ("basic_replacement_rate", "above"): "the national minimum against a Shanxi county's income, below the "
    "national mean",
    ("irr", "below"): "the study's grade, entry age, interest and mortality are not known here; after 2025 the "
    "model's basic pension only keeps up with prices, which lowers the rate for later entrants",
    ("irr", "above"): "for the launch cohort the lump sum buys a pension that starts the same month, so the rate "
    "turns on how soon and how long pensions flow: the model pays them monthly from July under the rural life "
    "table, the study with conventions of its own",
    ("crude_death_rate", "above"): "the communique most likely leaves out registered residents who die away from "
    "the county and unregistered deaths (the range allows a fifth more); the rest comes from the rural life "
    "table (a Gompertz-Makeham approximation, not checked age by age against a real rural table) applied to a "
    "county whose ages within the census's wide bands are drawn by the table's survivorship (approx), which "
    "sets how many are old by 2019 (60+ about 21% of the population in the model)",
    ("crude_death_rate", "below"): "the rural life table's mortality is lower than the county's, or the simulated "
    "county is younger than the real one",
}


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}. " if text else ""


def report(scenario: Scenario, facts: list[Fact], table: pd.DataFrame, runs: int, seconds: float) -> str:
    """validation.md: the table, a plain verdict per fact, and the facts' sources and caveats."""
    outside = table[table["verdict"] != "inside"]
    lines = [
        f"# Validation of {scenario.name} against facts the calibration does not use",
        "",
        f"{runs} runs of {scenario.population.residents or 'all'} residents, {scenario.start_year}-"
        f"{scenario.end_year}, in {seconds:.0f} s. Model: mean over runs [90% band]; `irr` facts are "
        "`pension-abm irr` (expected values, no band). A fact is met when the model's mean lies in its "
        "observed range. Most facts are national (ministry bulletins, published studies) and the model is one "
        "county (Qi County, Shanxi) under the national minimum rules, so ratios are compared, not levels; the "
        "crude death rate is the county's own. "
        "Facts and sources: `abm/calibration/validation.yaml`; definitions of the measures below.",
        "",
        f"**{len(table) - len(outside)} of {len(table)} facts inside their observed range.**",
        "",
        "![validation](validation.png)",
        "",
    ]
    rows = []
    for row in table.itertuples():
        m = row.measure
        band = "" if row.model_low == row.model_high else f" [{_fmt(m, row.model_low)}, {_fmt(m, row.model_high)}]"
        rows.append(
            [
                row.name,
                str(row.year),
                _fmt(m, row.observed),
                f"{_fmt(m, row.range_low)}-{_fmt(m, row.range_high)}",
                f"{_fmt(m, row.model)}{band}",
                row.verdict,
                row.checked,
            ]
        )
    lines.append(tables.markdown(["fact", "year", "observed", "range", "model [90% band]", "verdict", "checked"], rows))
    lines += ["", "## Where the model is outside the observed range, and why that may be", ""]
    if outside.empty:
        lines.append("Nowhere: every fact's model mean lies in its observed range.")
    for row in outside.itertuples():
        fact = next(f for f in facts if f.name == row.name)
        lines.append(
            f"- **{row.name}** ({row.year}): model {_fmt(row.measure, row.model)} is {row.verdict} the "
            f"observed {_fmt(row.measure, row.range_low)}-{_fmt(row.measure, row.range_high)}. "
            f"{_sentence(WHY.get((row.measure, row.verdict), ''))}Comparability: {fact.comparability}."
        )
    measures_rows = [[f"`{name}`", measure.meaning] for name, measure in MEASURES.items()]
    lines += ["", "## Measures", "", tables.markdown(["measure", "the model's side"], measures_rows)]
    lines += ["", "## Facts and sources", ""]
    for fact in facts:
        derived = f" ({fact.derived_from})" if fact.derived_from else ""
        lines.append(
            f"- **{fact.name}**: {_fmt(fact.measure, fact.value)}{derived}, {fact.unit}. Source: "
            f"{fact.source}. Checked: {fact.checked}."
        )
    return "\n".join(lines) + "\n"


def figure(facts: list[Fact], timeseries: pd.DataFrame, title: str) -> Figure:
    """One panel per time-series measure: the model's mean and 90% band over the years, the observed
    values with their ranges."""
    series = measures(timeseries)
    names = [m for m in MEASURES if m != "irr" and any(f.measure == m for f in facts)]
    cols = 3
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(14, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        unit = MEASURES[name].unit
        scale = unit.scale
        stats = bands(series.groupby("year")[name]) * scale
        ax.plot(stats.index, stats["mean"], color="C0", label="model (mean)")
        ax.fill_between(stats.index, stats["low"], stats["high"], color="C0", alpha=0.2, lw=0, label="model 90% band")
        obs = [f for f in facts if f.measure == name]
        ax.errorbar(
            [f.year for f in obs],
            [f.value * scale for f in obs],
            yerr=np.array([[f.value - f.range[0], f.range[1] - f.value] for f in obs]).T * scale,
            fmt="o",
            color="C3",
            capsize=3,
            label="observed, range",
        )
        ax.set_title(name.replace("_", " ") + (f" ({unit.shown})" if unit.symbol else ""), fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def validate(
    scenario: Scenario, runs: int, workers: int, out: Path, facts_file: Path = FACTS, progress: bool = False
) -> tuple[Path, pd.DataFrame, float]:
    """Run the scenario to the last fact's year, compare, and write the folder atomically."""
    destinations.check(out, "validate")
    facts = load_facts(facts_file)
    last = max([f.year for f in facts if f.measure != "irr"], default=scenario.start_year)
    short = scenario.model_copy(
        update={
            "end_year": max(min(last, scenario.end_year), scenario.start_year),
            "run": scenario.run.model_copy(update={"report_years": None}),
        }
    )
    started = time.perf_counter()
    result = replications.run(short, runs=runs, workers=workers, progress=progress)
    table = compare(scenario, facts, result.timeseries)
    seconds = time.perf_counter() - started
    with atomic.folder(out) as staging:
        metadata = {
            **destinations.marker("validate"),
            "scenario": scenario.name,
            "runs": runs,
            "seed": result.seed,
            "wall_seconds": round(seconds, 3),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (staging / destinations.MARKER).write_text(json.dumps(metadata, indent=2))
        table.to_csv(staging / "validation.csv", index=False)
        (staging / "validation.md").write_text(report(short, facts, table, runs, seconds))
        save(
            figure(facts, result.timeseries, f"{scenario.name} against national facts ({runs} runs)"),
            staging / "validation.png",
        )
    return Path(out), table, seconds
