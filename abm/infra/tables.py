"""Markdown tables, written by pandas (tabulate) in one style."""

from __future__ import annotations

from collections.abc import Sequence


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown (pipe) table of text cells, as given: no number is re-read or re-formatted, and no
    cell padded (only the line under the header is as wide as each column)."""
    import pandas as pd

    frame = pd.DataFrame([list(row) for row in rows], columns=list(header), dtype=object)
    return frame.to_markdown(index=False, tablefmt="pipe", disable_numparse=True, stralign=None, numalign=None)
