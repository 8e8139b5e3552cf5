"""A search's folder and archive: every policy's runs written to disk as soon as they finish, the cache
the search reads (a policy is never run twice), and what ``--resume`` replays.

The folder holds the marker (``metadata.json``), a copy of the search file, the resolved base
scenario with the digests of the data files it reads, the uncertain scenarios (``scenarios.csv``)
and ``archive/``: one Parquet part per policy and stage (the search's replications, then the final
stage's further ones). Resuming replays the search from its seed: the algorithm asks for the same
policies in the same order, those in the archive are read instead of run, and the rest run; the
front is the same as an uninterrupted search's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from abm.analysis.search.problem import scenario_table
from abm.analysis.search.spec import Search
from abm.analysis.sweep import BASE_COPY, continued, resolved_base
from abm.infra import atomic
from abm.inputs.datafiles import read_parquet

ARCHIVE = "archive"
SEARCH_COPY = "search.yaml"
SCENARIOS = "scenarios.csv"
STAGES = ("search", "final")


def prepare(search: Search, search_file: Path, out: Path, resume: bool) -> None:
    """Create the search folder, or check that an earlier one may be continued (``resume``): the same
    search file, base scenario and data files."""
    if continued("search", search, search_file, out, SEARCH_COPY, resume):
        return
    (out / ARCHIVE).mkdir(exist_ok=True)
    if search.base is not None:
        atomic.write_text(out / BASE_COPY, resolved_base(search))
    atomic.write_text(out / SCENARIOS, scenario_table(search).to_csv(index=False))
    copy = out / SEARCH_COPY
    tmp = copy.with_name(f".{copy.name}.partial")
    tmp.write_bytes(Path(search_file).read_bytes())
    tmp.replace(copy)  # last: a folder with search.yaml has everything a resumed search checks


def part_path(out: Path, stage: str, keys: list[str]) -> Path:
    """The archive part of some policies' runs in one stage (named by their keys)."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
    return out / ARCHIVE / f"{stage}-{digest}.parquet"


def write_part(out: Path, stage: str, runs: pd.DataFrame) -> None:
    """Some policies' runs of a stage (a task's), written whole under a temporary name and renamed."""
    path = part_path(out, stage, list(dict.fromkeys(runs["key"])))
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    runs.assign(stage=stage).to_parquet(tmp, index=False)
    tmp.replace(path)


def read(out: Path) -> pd.DataFrame:
    """Every run archived so far (both stages); a damaged part is one message saying what to do."""
    folder = out / ARCHIVE
    for stale in folder.glob(".*.partial*"):
        stale.unlink()
    remedy = (
        f"delete it and continue with `pension-abm search <search file> --out {out} --resume`, which runs its "
        "policy again"
    )
    parts = [read_parquet(p, remedy) for p in sorted(folder.glob("*.parquet"))]
    if not parts:
        return pd.DataFrame(columns=["key", "scenario", "replication", "seed", "stage"])
    return pd.concat(parts, ignore_index=True)
