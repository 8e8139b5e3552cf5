"""The mean and 90% band over runs (abm/analysis/bands.py): the 5th and 95th percentiles, linear, whatever the
shape of the runs' values; the Markdown tables every report writes (abm/infra/tables.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from abm.analysis.bands import BAND, bands
from abm.infra.tables import markdown


def test_a_series_or_array_gives_its_mean_and_percentiles_exactly():
    values = np.random.default_rng(3).normal(size=17) * 1e6
    for given in (values, pd.Series(values), list(values)):
        band = bands(given)
        assert list(band.index) == ["mean", "low", "high"]
        assert band["mean"] == np.mean(values)
        assert (band["low"], band["high"]) == (np.quantile(values, 0.05), np.quantile(values, 0.95))
    assert BAND == (0.05, 0.95)
    assert list(bands([2.0])) == [2.0, 2.0, 2.0]  # one run: no spread


def test_grouped_values_and_frames_give_a_row_per_group_or_column():
    frame = pd.DataFrame(
        {"year": [1, 1, 1, 2, 2, 2], "x": [1.0, 2.0, 4.0, 10.0, 20.0, 30.0], "y": [0.0, 0.0, 3.0, 1.0, 1.0, 1.0]}
    )
    by_year = bands(frame.groupby("year")["x"])
    assert list(by_year.columns) == ["mean", "low", "high"] and list(by_year.index) == [1, 2]
    assert by_year.loc[2].tolist() == [20.0, 11.0, 29.0]
    assert by_year.loc[1, "low"] == np.quantile([1.0, 2.0, 4.0], 0.05)
    by_column = bands(frame[["x", "y"]])
    assert by_column.loc["y"].tolist() == [1.0, 0.0, 2.5]  # sorted 0 0 1 1 1 3: 1 + 0.75 x (3 - 1)


def test_markdown_tables_keep_the_cells_as_given():
    """Numbers stay as formatted ("1,925.4", "100.0", "+0.00"), a cell is not padded, pipes escaped by the caller."""
    text = markdown(["year", "A", "B"], [["2011", "100.0", "1,925.4 (+0.00)"], ["2020", "-", "a \\| b"]])
    lines = text.splitlines()
    assert lines[0] == "| year | A | B |"
    assert set(lines[1]) == {"|", "-"} and lines[1].count("|") == 4
    assert lines[2:] == ["| 2011 | 100.0 | 1,925.4 (+0.00) |", "| 2020 | - | a \\| b |"]
