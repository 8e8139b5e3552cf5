"""Figures of one run: enrolment and grades, pensions and adequacy, the fund and public money."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from abm.fund import PUBLIC  # noqa: E402

MILLION = 1e6


def enrolment(ts: pd.DataFrame, title: str) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(ts.year, ts.participation_rate, label="participation rate (paying / eligible)")
    left.plot(ts.year, ts.lowest_grade_share, label="payers at the lowest grade")
    left.plot(ts.year, ts.top_grade_share, label="payers at the highest grade")
    left.set(ylim=(0, 1.02), ylabel="share", title="Enrolment")
    left.legend(loc="lower right", fontsize=8)
    shares = ts.filter(like="grade_share_")
    shares = shares.loc[:, shares.max() > 0]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.95, shares.shape[1]))  # low grades dark
    right.stackplot(ts.year, shares.T.to_numpy(), labels=[c.removeprefix("grade_share_") for c in shares],
                    colors=colours)
    right.set(ylim=(0, 1), ylabel="share of payers", title="Grades chosen (yuan/year)")
    right.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8, reverse=True)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pensions(ts: pd.DataFrame, title: str) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.stackplot(ts.year, ts.mean_basic_pension, ts.mean_account_pension,
                   labels=["basic pension", "account pension"])
    left.set(ylabel="yuan/month", title="Mean pension")
    left.legend(loc="upper left", fontsize=8)
    right.plot(ts.year, ts.replacement_rate, label="replacement rate (pension / rural income)")
    right.plot(ts.year, ts.basic_needs_coverage, label="basic-needs coverage")
    right.set(ylim=(0, None), ylabel="ratio", title="Adequacy")
    right.legend(loc="upper right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def fund(ts: pd.DataFrame, title: str) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(ts.year, ts.fund_balance / MILLION, label="balance (individual accounts)", lw=2)
    left.plot(ts.year, ts.fund_inflow / MILLION, label="inflow")
    left.plot(ts.year, ts.fund_outflow / MILLION, label="outflow")
    left.set(ylabel="million yuan", title="Fund")
    left.legend(loc="upper left", fontsize=8)
    items = [c for c in PUBLIC if ts[c].max() > 0]
    right.stackplot(ts.year, (ts[items] / MILLION).T.to_numpy(),
                    labels=[c.removeprefix("public_").replace("_", " ") for c in items])
    right.set(ylabel="million yuan/year", title="Public spending")
    right.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


FIGURES = {"enrolment.png": enrolment, "pensions.png": pensions, "fund.png": fund}


def save_all(ts: pd.DataFrame, title: str, folder: Path) -> list[Path]:
    paths = []
    for name, draw in FIGURES.items():
        fig = draw(ts, title)
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        paths.append(folder / name)
    return paths
