"""The mean and 90% band over runs: the one way every table, summary and figure states a result's spread."""

from __future__ import annotations

import pandas as pd

BAND = (0.05, 0.95)  # the 90% band over runs: their 5th and 95th percentiles (linear interpolation)


def bands(values) -> pd.Series | pd.DataFrame:
    """Mean, ``low`` and ``high`` (the 90% band: :data:`BAND`) of ``values`` over runs.

    Args:
        values: one value per run (a Series or an array: gives a Series mean, low, high); a DataFrame,
            one row per run (gives a DataFrame: a row per column); or grouped values (a pandas
            SeriesGroupBy: gives a DataFrame, a row per group).
    """
    if not isinstance(values, pd.Series | pd.DataFrame) and not hasattr(values, "quantile"):
        values = pd.Series(values, dtype=float)
    stats = {"mean": values.mean(), "low": values.quantile(BAND[0]), "high": values.quantile(BAND[1])}
    return pd.Series(stats, dtype=float) if isinstance(values, pd.Series) else pd.DataFrame(stats)
