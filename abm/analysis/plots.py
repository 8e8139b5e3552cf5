"""Figures of a run: enrolment and grades, pensions and adequacy, the fund and public money, population.

Every panel draws the time series of one or more replications (column ``run``) on an Axes;
lines show the mean over replications and, when there are several, a shaded 90% band. The
result files and the browser page draw the same panels. Panels taking ``observed`` also mark
the county's census observations (abm.sim.demography.load_observations) when given.
"""

from __future__ import annotations

from functools import partial
from inspect import signature
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis.bands import bands
from abm.sim import outcomes

MILLION = 1e6


def band_line(ax, ts: pd.DataFrame, column: str, label: str, **style) -> None:
    """Mean over replications per year, with the 90% band shaded when there are several, in the
    column's shown unit (abm/sim/outcomes.py: % for shares, million yuan for money)."""
    several = "run" in ts and ts["run"].nunique() > 1
    grouped = ts.groupby("year")[column]
    stats = (bands(grouped) if several else grouped.mean().to_frame("mean")) * outcomes.scale(column)
    (line,) = ax.plot(stats.index, stats["mean"].to_numpy(), label=label, **style)
    if several:
        ax.fill_between(
            stats.index, stats["low"].to_numpy(), stats["high"].to_numpy(), color=line.get_color(), alpha=0.2, lw=0
        )


def _means(ts: pd.DataFrame) -> pd.DataFrame:
    return ts.groupby("year").mean(numeric_only=True).reset_index()


# The series each panel shows and their legend labels, from the registry of indicators (abm/sim/outcomes.py
# `panel`, `legend`); the browser page shows the same.
ENROLMENT, PENSION, ADEQUACY, POPULATION, OLD_AGE, FUND, PUBLIC, FUNDING, PUBLIC_COST = map(
    outcomes.panel,
    ("enrolment", "pension", "adequacy", "population", "old_age", "fund", "public", "funding", "public_cost"),
)


def grade_shares(mean: pd.DataFrame) -> pd.DataFrame:
    """Share of payers (0-1) at each grade ever chosen, columns named by the grade in yuan/year."""
    shares = mean.filter(regex=f"^{outcomes.GRADE_SHARE.pattern}$")
    return shares.loc[:, shares.max() > 0].rename(columns=lambda c: c.removeprefix("grade_share_"))


def public_items(mean: pd.DataFrame) -> dict[str, str]:
    """Public spending items that occur, and their labels."""
    return {c: label for c, label in PUBLIC.items() if mean[c].max() > 0}


def enrolment_panel(ax, ts: pd.DataFrame) -> None:
    for column, label in ENROLMENT.items():
        band_line(ax, ts, column, label)
    ax.set(ylim=(0, 102), ylabel="% (of the eligible; of payers)", title="Enrolment")
    ax.legend(loc="lower right", fontsize=8)


def grades_panel(ax, ts: pd.DataFrame) -> None:
    mean = _means(ts)
    shares = grade_shares(mean)
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.95, shares.shape[1]))  # low grades dark
    ax.stackplot(mean.year, 100 * shares.T.to_numpy(), labels=list(shares), colors=colours)
    ax.set(ylim=(0, 100), ylabel="% of payers", title="Grades chosen (yuan/year, mean of runs)")
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8, reverse=True)


def pension_panel(ax, ts: pd.DataFrame) -> None:
    mean = _means(ts)
    ax.stackplot(mean.year, mean[list(PENSION)].T.to_numpy(), labels=list(PENSION.values()))
    ax.set(ylabel=outcomes.shown_unit("mean_pension"), title="Mean pension (mean of runs)")
    ax.legend(loc="upper left", fontsize=8)


def adequacy_panel(ax, ts: pd.DataFrame) -> None:
    for column, label in ADEQUACY.items():
        band_line(ax, ts, column, label)
    ax.set(ylim=(0, None), ylabel="% (of income; of the basic-needs line)", title="Adequacy")
    ax.legend(loc="upper right", fontsize=8)


def fund_panel(ax, ts: pd.DataFrame) -> None:
    for column, label in FUND.items():
        band_line(ax, ts, column, label, lw=2 if column == "fund_balance" else 1.5)
    ax.set(ylabel=outcomes.shown_unit("fund_balance"), title="Fund")
    ax.legend(loc="upper left", fontsize=8)


def public_spending_panel(ax, ts: pd.DataFrame) -> None:
    mean = _means(ts)
    items = public_items(mean)
    ax.stackplot(
        mean.year, (mean[list(items)] * outcomes.scale("public_spending")).T.to_numpy(), labels=list(items.values())
    )
    ax.set(ylabel=outcomes.shown_unit("public_spending"), title="Public spending (mean of runs)")
    ax.legend(loc="upper left", fontsize=8)


def mark_observed(ax, observed: dict | None, column: str, label: str, *style, **styles) -> None:
    """Mark the observations of ``column`` ({year: value} in its stored unit), if ``observed`` holds any,
    in the column's shown unit."""
    if observed and column in observed:
        years, values = zip(*sorted(observed[column].items()))
        ax.plot(years, [v * outcomes.scale(column) for v in values], *style, label=label, **styles)


def population_panel(ax, ts: pd.DataFrame, observed: dict | None = None) -> None:
    for column, label in POPULATION.items():
        band_line(ax, ts, column, label)
    mark_observed(ax, observed, "population", "census (2010), communique (end-2019)", "ko")
    ax.set(ylabel=outcomes.shown_unit("population"), title="Population (end of year)")
    ax.margins(y=0.15)
    ax.legend(loc="lower center", fontsize=8)


def old_age_panel(ax, ts: pd.DataFrame, observed: dict | None = None) -> None:
    for column, label in OLD_AGE.items():
        band_line(ax, ts, column, label)
    mark_observed(ax, observed, "share_60_plus", "national rural, 2020 census (comparison)", "ks", mfc="none")
    ax.set(ylim=(0, None), ylabel="% of the population", title="Aged 60+")
    ax.legend(loc="lower right", fontsize=8)


def figure(
    ts: pd.DataFrame,
    panels,
    title: str = "",
    size: tuple[float, float] = (12, 4.5),
    years: tuple[int, int] | None = None,
) -> Figure:
    """One figure with the given panels side by side (a pyplot-free Figure: safe across threads).
    ``years`` fixes the horizontal axis, e.g. to the whole scenario while a run is under way."""
    fig = Figure(figsize=size)
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        if len(ts):
            panel(ax, ts)
        if years:
            ax.set_xlim(*years)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


FIGURES = {
    "enrolment.png": (enrolment_panel, grades_panel),
    "pensions.png": (pension_panel, adequacy_panel),
    "fund.png": (fund_panel, public_spending_panel),
    "population.png": (population_panel, old_age_panel),
}


def save(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG (a Figure made without pyplot: no backend, nothing left open)."""
    fig.savefig(path, dpi=110)
    return path


def with_observed(panels, observed: dict | None) -> list:
    """The panels, those that mark observations given ``observed``."""
    return [partial(p, observed=observed) if "observed" in signature(p).parameters else p for p in panels]


def save_all(ts: pd.DataFrame, title: str, folder: Path, observed: dict | None = None) -> list[Path]:
    return [save(figure(ts, with_observed(panels, observed), title), folder / name) for name, panels in FIGURES.items()]
