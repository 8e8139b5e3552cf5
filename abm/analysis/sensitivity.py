"""Sensitivity indices of a finished sweep (SALib's analyze, matched to its sample) and their plots."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis.plots import save
from abm.analysis.sweep import SWEEP_COPY, Sweep, read_design, results
from abm.infra import atomic
from abm.infra.errors import UserError
from abm.inputs.loader import read_layer, validate

# Below these sample sizes indices are usually unstable (confidence intervals too wide to rank).
RECOMMENDED_SAMPLES = {"sobol": 512, "morris": 20, "fast": 500, "rbd_fast": 500, "delta": 500}
WIDE_INTERVAL = 0.1  # a confidence half-width above this (Morris: 10% of the top mu*) makes rankings doubtful
ANALYSIS_SEED = 12345
# What each method's analysis reports, per parameter ("_conf": the 95% confidence half-width).
INDICES = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "morris": ("mu", "mu_star", "mu_star_conf", "sigma"),
    "fast": ("S1", "S1_conf", "ST", "ST_conf"),
    "rbd_fast": ("S1", "S1_conf"),
    "delta": ("delta", "delta_conf", "S1", "S1_conf"),
}


def indices(sweep: Sweep, x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """One row per parameter: the method's indices (:data:`INDICES`) and their 95% confidence half-widths,
    by SALib's analysis of the method (its ``ProblemSpec``, given the sweep's sample ``x`` and outputs ``y``)."""
    spec = sweep.problem_spec().set_samples(x).set_results(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        getattr(spec, f"analyze_{sweep.method}")(seed=ANALYSIS_SEED, **sweep.salib_options)
    res = spec.analysis
    if sweep.method == "delta" and "delta" not in res:  # SALib >= 1.5 names Borgonovo's delta (plain bootstrap)
        res["delta"], res["delta_conf"] = res["delta_raw"], res["delta_raw_conf"]  # delta_raw
    return pd.DataFrame({k: np.asarray(res[k], dtype=float) for k in INDICES[sweep.method]}, index=spec["names"])


def _widest_interval(sweep: Sweep, table: pd.DataFrame) -> float:
    """Largest confidence half-width: of the indices (0-1), or for Morris relative to the largest mu*."""
    if sweep.method == "morris":
        scale = float(table["mu_star"].max())
        return float(table["mu_star_conf"].max()) / scale if scale > 0 else 0.0
    conf = table.filter(like="_conf").to_numpy()
    return float(np.nanmax(conf)) if conf.size else 0.0


def analyze_folder(folder: Path) -> dict:
    """Indices for every output of a sweep folder (replications averaged first); writes
    indices.csv, indices.json and the figures; returns the table and any warnings."""
    folder = Path(folder)
    if not (folder / SWEEP_COPY).is_file():
        raise UserError("not a sweep folder (no sweep.yaml)", file=folder)
    sweep = _load_copy(folder)
    design = read_design(folder)
    runs = results(folder)
    missing = len(design) - (runs["point"].nunique() if len(runs) else 0)
    if missing:
        raise UserError(
            f"{missing} of {len(design)} points are not run yet: `pension-abm sweep ... --resume`", file=folder
        )
    means = runs.groupby("point")[sweep.columns].mean().sort_index()  # replications averaged
    x = design.sort_values("point")[[f"x_{p.name}" for p in sweep.parameters]].to_numpy()
    tables, notes = [], []
    analysed = sweep.columns
    if len(sweep.parameters) < 2:  # SALib's ProblemSpec analyses two or more
        notes.append("one parameter: it accounts for all of each output's variance; no indices")
        analysed = []
    for column in analysed:
        y = means[column].to_numpy()
        if np.ptp(y) == 0:
            notes.append(f"{column}: the output does not vary over the sample; no indices")
            continue
        table = indices(sweep, x, y)
        tables.append(table.rename_axis("parameter").reset_index().assign(output=column))
        widest = _widest_interval(sweep, table)
        if widest > WIDE_INTERVAL:
            notes.append(
                f"{column}: confidence half-widths up to {widest:.2f}"
                f"{' of the largest mu*' if sweep.method == 'morris' else ''}; "
                "rankings may not be stable: increase samples"
            )
    if sweep.samples < RECOMMENDED_SAMPLES[sweep.method]:
        notes.insert(
            0,
            f"samples = {sweep.samples} is below the {RECOMMENDED_SAMPLES[sweep.method]} usually needed "
            f"for stable {sweep.method} indices",
        )
    frame = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(frame):
        frame = frame[["output", "parameter", *[c for c in frame.columns if c not in ("output", "parameter")]]]
    _write(folder, sweep, frame, notes, len(runs))
    return {"indices": frame, "warnings": notes, "sweep": sweep}


def _load_copy(folder: Path) -> Sweep:
    """The sweep as copied into its folder; its base scenario is not needed for the analysis."""
    layer = read_layer(folder / SWEEP_COPY, "a sweep")
    return validate(Sweep, layer.data, [layer])


def _write(folder: Path, sweep: Sweep, frame: pd.DataFrame, notes: list[str], runs: int) -> None:
    frame.to_csv(folder / ".indices.csv.partial", index=False)
    (folder / ".indices.csv.partial").replace(folder / "indices.csv")
    payload = {
        "sweep": sweep.name,
        "method": sweep.method,
        "samples": sweep.samples,
        "replications": sweep.replications,
        "runs": runs,
        "warnings": notes,
        "indices": json.loads(frame.to_json(orient="records")) if len(frame) else [],
    }
    atomic.write_text(folder / "indices.json", json.dumps(payload, indent=2))
    for old in folder.glob("indices_*.png"):
        old.unlink()
    if not len(frame):
        return
    for output, part in _single_outputs(frame).items():
        save(_bars(sweep, part, output), folder / f"indices_{_slug(output)}.png")
    for indicator, part in _time_series(frame).items():
        save(_over_years(sweep, part, indicator), folder / f"indices_{_slug(indicator)}_over_years.png")


def _single_outputs(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {o: frame[frame["output"] == o] for o in dict.fromkeys(frame["output"])}


def _time_series(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Outputs that are one indicator in several years."""
    split = frame["output"].str.extract(r"^(?P<indicator>[^@]+)@(?P<year>\d{4})$")
    frame = frame.assign(indicator=split["indicator"], year=pd.to_numeric(split["year"]))
    return {
        indicator: part
        for indicator, part in frame.dropna(subset=["year"]).groupby("indicator")
        if part["year"].nunique() > 1
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")


def _bars(sweep: Sweep, part: pd.DataFrame, output: str) -> Figure:
    fig = Figure(figsize=(max(6, 0.9 * len(part) + 2), 4.2))
    ax = fig.subplots()
    x = np.arange(len(part))
    if sweep.method == "morris":
        ax.errorbar(part["mu_star"], part["sigma"], xerr=part["mu_star_conf"], fmt="o", capsize=3)
        for _, row in part.iterrows():
            ax.annotate(
                row["parameter"], (row["mu_star"], row["sigma"]), textcoords="offset points", xytext=(4, 4), fontsize=8
            )
        ax.set(xlabel="mu* (mean absolute elementary effect)", ylabel="sigma (interaction / non-linearity)")
    else:
        pairs = [(k, f"{k}_conf") for k in ("S1", "ST", "delta") if k in part]
        width = 0.8 / len(pairs)
        for i, (key, conf) in enumerate(pairs):
            ax.bar(x + (i - (len(pairs) - 1) / 2) * width, part[key], width, yerr=part.get(conf), capsize=3, label=key)
        ax.set(xticks=x, xticklabels=part["parameter"], ylabel="index")
        ax.tick_params(axis="x", rotation=30)
        ax.axhline(0, color="black", lw=0.5)
        ax.legend()
    ax.set_title(
        f"{sweep.name}: {output} ({sweep.method}, {sweep.samples} samples, "
        f"{sweep.replications} replication(s) averaged)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _over_years(sweep: Sweep, part: pd.DataFrame, indicator: str) -> Figure:
    key = "mu_star" if sweep.method == "morris" else ("ST" if "ST" in part else "S1")
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    for parameter, rows in part.groupby("parameter", sort=False):
        rows = rows.sort_values("year")
        ax.plot(rows["year"], rows[key], marker="o", label=parameter)
        conf = f"{key}_conf"
        if conf in rows:
            ax.fill_between(rows["year"], rows[key] - rows[conf], rows[key] + rows[conf], alpha=0.15)
    ax.set(xlabel="year", ylabel=key, title=f"{sweep.name}: {key} of {indicator} over the years")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
