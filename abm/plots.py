"""Figures of a run: enrolment and grades, pensions and adequacy, the fund and public money.

Every figure takes the time series of one or more replications (column ``run``); lines show
the mean over replications and, when there are several, a shaded 90% band.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from abm.fund import PUBLIC  # noqa: E402

MILLION = 1e6
BAND = (0.05, 0.95)


def band_line(ax, ts: pd.DataFrame, column: str, label: str, scale: float = 1.0, **style) -> None:
    """Mean over replications per year, with the 90% band shaded when there are several."""
    grouped = ts.groupby("year")[column]
    mean = grouped.mean() / scale
    (line,) = ax.plot(mean.index, mean.to_numpy(), label=label, **style)
    if "run" in ts and ts["run"].nunique() > 1:
        low, high = grouped.quantile(BAND[0]) / scale, grouped.quantile(BAND[1]) / scale
        ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=line.get_color(), alpha=0.2, lw=0)


def _means(ts: pd.DataFrame) -> pd.DataFrame:
    return ts.groupby("year").mean(numeric_only=True).reset_index()


def enrolment(ts: pd.DataFrame, title: str) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    band_line(left, ts, "participation_rate", "participation rate (paying / eligible)")
    band_line(left, ts, "lowest_grade_share", "payers at the lowest grade")
    band_line(left, ts, "top_grade_share", "payers at the highest grade")
    left.set(ylim=(0, 1.02), ylabel="share", title="Enrolment")
    left.legend(loc="lower right", fontsize=8)
    mean = _means(ts)
    shares = mean.filter(like="grade_share_")
    shares = shares.loc[:, shares.max() > 0]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.95, shares.shape[1]))  # low grades dark
    right.stackplot(mean.year, shares.T.to_numpy(), labels=[c.removeprefix("grade_share_") for c in shares],
                    colors=colours)
    right.set(ylim=(0, 1), ylabel="share of payers", title="Grades chosen (yuan/year, mean of runs)")
    right.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8, reverse=True)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pensions(ts: pd.DataFrame, title: str) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    mean = _means(ts)
    left.stackplot(mean.year, mean.mean_basic_pension, mean.mean_account_pension,
                   labels=["basic pension", "account pension"])
    left.set(ylabel="yuan/month", title="Mean pension (mean of runs)")
    left.legend(loc="upper left", fontsize=8)
    band_line(right, ts, "replacement_rate", "replacement rate (pension / rural income)")
    band_line(right, ts, "basic_needs_coverage", "basic-needs coverage")
    right.set(ylim=(0, None), ylabel="ratio", title="Adequacy")
    right.legend(loc="upper right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def fund(ts: pd.DataFrame, title: str) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    band_line(left, ts, "fund_balance", "balance (individual accounts)", MILLION, lw=2)
    band_line(left, ts, "fund_inflow", "inflow", MILLION)
    band_line(left, ts, "fund_outflow", "outflow", MILLION)
    left.set(ylabel="million yuan", title="Fund")
    left.legend(loc="upper left", fontsize=8)
    mean = _means(ts)
    items = [c for c in PUBLIC if mean[c].max() > 0]
    right.stackplot(mean.year, (mean[items] / MILLION).T.to_numpy(),
                    labels=[c.removeprefix("public_").replace("_", " ") for c in items])
    right.set(ylabel="million yuan/year", title="Public spending (mean of runs)")
    right.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


FIGURES = {"enrolment.png": enrolment, "pensions.png": pensions, "fund.png": fund}


def save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_all(ts: pd.DataFrame, title: str, folder: Path) -> list[Path]:
    return [save(draw(ts, title), folder / name) for name, draw in FIGURES.items()]
