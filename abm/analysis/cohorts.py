"""Money's worth by birth cohort: residents' lifetime present values summed by five-year cohort and grade.

Present values are in yuan at the end of the launch year, discounted at the account interest rates
in force year by year with the timing of abm/sim/timing.py (abm/sim/lifetime.py). A resident counts once
their record is complete: those who died in the county (the account their estate inherited
counted as received), and pensioners alive at the end, valued on what was paid and received so far
plus what they are expected to receive (survival-weighted with the county's life table, at the last
year's basic pension, account pension and account interest rate, paid monthly, the remaining
account inherited at the end of the year of death), and residents
alive at the end who will neither pay nor draw (in the employee scheme, or past the pension age
without a contribution year) as they stand. Residents who moved away (their pension is paid
elsewhere) and residents alive at the end who may still pay are left out: ``valued_share`` says what share of
a cohort's residents the row covers, and cohorts below ``COMPLETE`` are not drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis.bands import bands
from abm.sim import timing
from abm.sim.fund import MONTHS, monthly_basic_pension
from abm.sim.lifetime import RATES, irr_from_grid
from abm.sim.population import PV_COLUMNS

COHORT_YEARS = 5
COMPLETE = 0.9  # share of a cohort's residents valued for its row to be drawn
GRADES = ("never paid", "government-paid", "lowest grade", "higher grades")
ALL = "all"
MEASURES = (
    "residents",
    "valued_share",
    "own",
    "subsidy",
    "basic",
    "account",
    "after",
    "estate",
    "received",
    "public_received",
    "money_worth",
    "net_transfer",
    "net_transfer_total",
    "irr_p10",
    "irr_median",
    "irr_p90",
    "irr_defined_share",
)
BANDED = ("money_worth", "net_transfer", "irr_median")  # written with their 90% band over runs


def records(model) -> pd.DataFrame:
    """One row per resident whose lifetime is valued or open: birth year, grade mostly paid, present
    values (yuan of the launch year), internal rate of return, and ``valued``: False for residents
    alive at the end who may still pay (not pensioners, not in the employee scheme, and not past the
    pension age without a contribution year). Residents who moved away are left out.

    Raises:
        ValueError: the model was built without lifetime accounts (PensionModel(lifetime=True) keeps them).
    """
    if not model.population.lifetime:
        raise ValueError("the model keeps no lifetime accounts: build it with PensionModel(..., lifetime=True)")
    parts = [exit_ for exit_ in model.fund.exits if exit_["how"].size]
    died = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else None
    frames = []
    if died is not None:
        keep = died["how"] == "died"
        frames.append(_frame({k: v[keep] for k, v in died.items()}, valued=np.ones(int(keep.sum()), bool)))
    pop = model.population
    done = pop.pensioner | pop.employee | ((pop.age > model.policy.pension_age) & (pop.years == 0))
    frames.append(_frame(_alive_valued(model), valued=done))
    return pd.concat(frames, ignore_index=True)


def _alive_valued(model) -> dict[str, np.ndarray]:
    """Residents alive at the end, pensioners with what they are expected to receive added: each later
    year twelve monthly pensions (from the account while its value at the year's end lasts, abm/sim/timing.py),
    and the account to the heirs at the end of the year of death."""
    pop, policy, life, discount = model.population, model.policy, model.life, model.fund.discount
    values = {name: getattr(pop, name).copy() for name in ("years", "years_lowest", "years_gov", "npv", *PV_COLUMNS)}
    values["birth_year"] = model.year - pop.age.astype(np.int64)  # the ages are those of the year after the end
    rows = np.flatnonzero(pop.pensioner)
    age, sex = pop.age[rows].astype(int), pop.sex[rows].astype(int)
    basic = MONTHS * monthly_basic_pension(policy, pop.years[rows])
    monthly = pop.account_pension[rows]
    due = MONTHS * monthly
    months, timed = timing.stream(np.ones(MONTHS))  # a whole year of monthly pensions
    left = timed / months  # their mean share of the year left
    balance = pop.account[rows].copy()
    rate, alive = policy.interest_rate, np.ones(rows.size)
    for t in range(1, life.last_age + 2 - int(age.min(initial=life.last_age))):
        living = alive > 0
        if not living.any():
            break
        factor = discount.factor / (1 + rate) ** t
        at_end = (1 + RATES) ** -float(discount.year + t - discount.first_year)
        value = balance * (1 + rate)
        share = timing.account_share(value, monthly, months, timed, rate)
        from_account = share * due
        balance = value - share * monthly * (months + rate * timed)
        q = np.where(
            age + t - 1 >= life.last_age, 1.0, life.death_probability(np.minimum(age + t - 1, life.last_age), sex)
        )
        flows = {
            "pv_basic": alive * basic,
            "pv_account": alive * from_account,
            "pv_after": alive * (due - from_account),
        }
        for name, flow in flows.items():
            values[name][rows] += flow * (1 + rate * left) * factor
        values["pv_estate"][rows] += alive * q * balance * factor
        received = alive * (basic + due)
        net = received + alive * q * balance
        values["npv"][rows] += net[:, None] * at_end[None, :] + (received * left)[:, None] * (RATES * at_end)[None, :]
        alive = alive * (1 - q)
    return values


def _frame(values: dict[str, np.ndarray], valued: np.ndarray) -> pd.DataFrame:
    years, lowest, gov = (values[k].astype(int) for k in ("years", "years_lowest", "years_gov"))
    grade = np.select([years == 0, 2 * gov > years, 2 * lowest >= years], [0, 1, 2], 3)
    frame = pd.DataFrame({name.removeprefix("pv_"): values[name] for name in PV_COLUMNS})
    frame.insert(0, "birth_year", values["birth_year"])
    frame.insert(1, "grade", np.asarray(GRADES)[grade])
    frame["irr"] = np.where(values["pv_own"] > 0, irr_from_grid(values["npv"]), np.nan)
    frame["valued"] = valued
    return frame


def cohort_label(birth_year: pd.Series) -> pd.Series:
    first = birth_year // COHORT_YEARS * COHORT_YEARS
    return first.astype(str) + "-" + (first + COHORT_YEARS - 1).astype(str)


def table(records: pd.DataFrame, weight: float) -> pd.DataFrame:
    """Per cohort and grade mostly paid (and ``all``): persons, share valued, mean present values per
    valued person (yuan of the launch year), money's worth (received / own money), net transfer per
    person and in total, and the spread of the internal rate of return (own money in, all received)."""
    frame = records.assign(cohort=cohort_label(records["birth_year"]))
    frame = pd.concat([frame, frame.assign(grade=ALL)], ignore_index=True)
    rows = []
    for (cohort, grade), part in frame.groupby(["cohort", "grade"], sort=True):
        valued = part[part["valued"]]
        mean = valued[[n.removeprefix("pv_") for n in PV_COLUMNS]].mean() if len(valued) else None
        received = float(mean[["basic", "account", "after", "estate"]].sum()) if mean is not None else np.nan
        own = float(mean["own"]) if mean is not None else np.nan
        irr = valued["irr"].dropna()
        row = {
            "cohort": cohort,
            "grade": grade,
            "residents": len(part) * weight,
            "valued_share": len(valued) / len(part),
        }
        row |= {
            k: float(mean[k]) if mean is not None else np.nan
            for k in ("own", "subsidy", "basic", "account", "after", "estate")
        }
        row |= {
            "received": received,
            "public_received": row["basic"] + row["after"] + row["subsidy"],
            "money_worth": received / own if own > 0 else np.nan,
            "net_transfer": received - own,
            "net_transfer_total": (received - own) * len(valued) * weight,
            "irr_p10": irr.quantile(0.1) if len(irr) else np.nan,
            "irr_median": irr.median() if len(irr) else np.nan,
            "irr_p90": irr.quantile(0.9) if len(irr) else np.nan,
            "irr_defined_share": len(irr) / len(valued) if len(valued) else np.nan,
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=["cohort", "grade", *MEASURES])


def model_table(model) -> pd.DataFrame:
    """The cohort table of one finished run."""
    return table(records(model), model.population.weight)


def over_runs(per_run: pd.DataFrame) -> pd.DataFrame:
    """Mean over runs of every measure per cohort and grade, and the 90% band of the BANDED ones."""
    grouped = per_run.groupby(["cohort", "grade"], sort=True)
    out = grouped[list(MEASURES)].mean()
    for name in BANDED:
        band = bands(grouped[name])
        out[f"{name}_low"], out[f"{name}_high"] = band["low"], band["high"]
    out["runs"] = grouped.size()
    order = {g: i for i, g in enumerate((ALL, *GRADES))}
    out = out.reset_index()
    return out.sort_values(
        ["cohort", "grade"], key=lambda s: s.map(order) if s.name == "grade" else s, ignore_index=True
    )


def complete(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of cohorts whose residents are valued to at least COMPLETE (the ``all`` row decides)."""
    full = table[(table["grade"] == ALL) & (table["valued_share"] >= COMPLETE)]["cohort"]
    return table[table["cohort"].isin(full)]


def figure(tables: dict[str, pd.DataFrame], title: str) -> Figure:
    """Money's worth, median internal rate of return and net transfer per person by cohort; one line
    per grade (one scenario) or per scenario (``all`` residents, several)."""
    fig = Figure(figsize=(15, 4.6))
    axes = fig.subplots(1, 3)
    several = len(tables) > 1
    for label, frame in tables.items():
        frame = complete(frame)
        groups = (
            [(label, frame[frame["grade"] == ALL])]
            if several
            else [(g, frame[frame["grade"] == g]) for g in (ALL, *GRADES)]
        )
        for name, part in groups:
            part = part[part["valued_share"] > 0]
            if part.empty:
                continue
            x = part["cohort"].str[:4].astype(int)
            style = {"lw": 2.4, "color": "black"} if name == ALL and not several else {"lw": 1.5}
            for ax, column, scale in (
                (axes[0], "money_worth", 1),
                (axes[1], "irr_median", 100),
                (axes[2], "net_transfer", 1e-3),
            ):
                line = ax.plot(x, part[column] * scale, marker="o", ms=3, label=name, **style)[0]
                if f"{column}_low" in part and (part[f"{column}_low"] != part[f"{column}_high"]).any():
                    ax.fill_between(
                        x,
                        part[f"{column}_low"] * scale,
                        part[f"{column}_high"] * scale,
                        color=line.get_color(),
                        alpha=0.15,
                        lw=0,
                    )
    axes[0].set(title="money's worth: received / own money (present values)", ylabel="ratio")
    axes[1].set(title="internal rate of return, median resident", ylabel="% per year")
    axes[2].set(title="net transfer per person (received - own)", ylabel="thousand yuan of the launch year")
    for ax in axes:
        ax.set_xlabel("birth cohort (first year of five)")
        ax.grid(alpha=0.3)
    if any(np.nanmax(line.get_ydata(), initial=0) > 0 for line in axes[0].get_lines()):
        axes[0].set_yscale("log")
    else:
        axes[0].text(0.5, 0.5, "no cohort valued enough yet", ha="center", transform=axes[0].transAxes)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"{title}: cohorts at least {COMPLETE:.0%} valued (dead, or pensioners valued to the end)", fontsize=10
    )
    fig.tight_layout()
    return fig


def read(folder: Path) -> pd.DataFrame | None:
    """The cohort table of a results folder, or None (a folder written before it existed)."""
    path = Path(folder) / "cohorts.csv"
    return pd.read_csv(path) if path.is_file() else None
