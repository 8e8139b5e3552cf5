"""Sweeps: a sampling design over scenario fields, run locally or on a Dask cluster, each finished
chunk of points streamed to disk so that an interrupted sweep resumes where it stopped.

A sweep file names a base scenario (or a test function), the parameters (a scenario field
path with bounds, a distribution, or levels), a SALib method and sample size, replications per
point and the outputs. Every run's seed is derived from the sweep's seed, so the numbers never
depend on the executor or the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, model_validator
from SALib import ProblemSpec
from SALib.test_functions import Ishigami

from abm.infra import atomic, destinations, memory
from abm.infra.errors import UserError
from abm.infra.executors import as_finished, executor
from abm.inputs.datafiles import SCENARIOS_DIR, depth_and_line, read_parquet, shipped_file
from abm.inputs.loader import FROM_OVERRIDES, Layer, data_files, load_scenario, read_layer, validate
from abm.inputs.scenario import CrossFieldError, Frozen, Name, Scenario, replication_seeds
from abm.inputs.study import Study

PARTS = "parts"
DESIGN = "design.parquet"
SWEEP_COPY = "sweep.yaml"
BASE_COPY = "base_scenario.yaml"
# SALib distributions and what their two or three numbers mean
DISTRIBUTIONS = {"uniform": "unif", "triangular": "triang", "normal": "norm", "lognormal": "lognorm"}
# The SALib sampler of each method (ProblemSpec.sample_<sampler>): rbd_fast and delta analyse a Latin hypercube.
SAMPLERS = {"sobol": "sobol", "morris": "morris", "fast": "fast", "rbd_fast": "latin", "delta": "latin"}


class Parameter(Frozen):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    path: str | None = Field(None, description="scenario field, e.g. policy.publicity.2026 (not for functions)")
    type: Literal["float", "integer", "categorical"] = "float"
    bounds: list[float] | None = Field(
        None,
        description="uniform/integer: [low, high]; triangular: [low, high, mode]; normal: [mean, sd]; "
        "lognormal: [mean, sd] of the log",
    )
    distribution: Literal["uniform", "triangular", "normal", "lognormal"] = "uniform"
    levels: list[Any] | None = Field(None, description="categorical: the values, any YAML")

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if self.type == "categorical":
            if not self.levels or len(self.levels) < 2:
                raise CrossFieldError("a categorical parameter needs levels: [at least two values]", "levels")
            return self
        expected = {"uniform": 2, "normal": 2, "lognormal": 2, "triangular": 3}[self.distribution]
        if not self.bounds or len(self.bounds) != expected:
            raise CrossFieldError(f"a {self.distribution} parameter needs bounds of {expected} numbers", "bounds")
        if self.distribution in ("uniform", "triangular") and not self.bounds[0] < self.bounds[1]:
            raise CrossFieldError(f"bounds must be increasing, got {self.bounds}", "bounds")
        if self.distribution == "triangular" and not self.bounds[0] <= self.bounds[2] <= self.bounds[1]:
            raise CrossFieldError("the mode must lie within the bounds", "bounds")
        if self.distribution in ("normal", "lognormal") and self.bounds[1] <= 0:
            raise CrossFieldError("the standard deviation must be positive", "bounds")
        if self.type == "integer" and self.distribution != "uniform":
            raise CrossFieldError("integer parameters are uniform over [low, high]", "distribution")
        return self

    def salib(self) -> tuple[list[float], str]:
        """Bounds and distribution as SALib samples them (integers and levels as floats)."""
        if self.type == "categorical":
            return [0.0, float(len(self.levels))], "unif"
        if self.type == "integer":
            return [self.bounds[0], self.bounds[1] + 1.0], "unif"
        if self.distribution == "triangular":
            low, high, mode = self.bounds
            return [low, high, (mode - low) / (high - low)], "triang"
        return list(self.bounds), DISTRIBUTIONS[self.distribution]

    def value(self, x: float) -> Any:
        """The lever's value for a sampled float."""
        if self.type == "categorical":
            return self.levels[min(math.floor(x), len(self.levels) - 1)]
        if self.type == "integer":
            return min(math.floor(x), int(self.bounds[1]))
        return float(x)


class Output(Frozen):
    indicator: str
    year: int | None = Field(None, description="the value in one year")
    mean_over: tuple[int, int] | None = Field(None, description="the mean over years [first, last]")
    years: list[int] | None = Field(None, description="a time series: indices per year")

    @model_validator(mode="after")
    def _one_kind(self) -> Output:
        given = [name for name in ("year", "mean_over", "years") if getattr(self, name) is not None]
        if len(given) > 1:
            raise CrossFieldError("give one of year, mean_over or years", given[-1])
        if self.mean_over is not None and self.mean_over[0] > self.mean_over[1]:
            raise CrossFieldError(f"mean_over is [first, last] year, got {list(self.mean_over)}", "mean_over")
        if self.years is not None and not self.years:
            raise CrossFieldError("years: give at least one year", "years")
        return self

    def columns(self) -> list[str]:
        if self.year is not None:
            return [f"{self.indicator}@{self.year}"]
        if self.mean_over is not None:
            return [f"{self.indicator}@mean{self.mean_over[0]}-{self.mean_over[1]}"]
        if self.years is not None:
            return [f"{self.indicator}@{y}" for y in self.years]
        return [self.indicator]

    def values(self, frame: pd.DataFrame) -> dict[str, float]:
        """This output from one run's time series (a row per year)."""
        series = frame.set_index("year")[self.indicator]
        if self.year is not None:
            return {self.columns()[0]: float(series.loc[self.year])}
        if self.mean_over is not None:
            return {self.columns()[0]: float(series.loc[self.mean_over[0] : self.mean_over[1]].mean())}
        if self.years is not None:
            return {c: float(series.loc[y]) for c, y in zip(self.columns(), self.years)}
        return {self.indicator: float(series.iloc[-1])}


class Sweep(Study):
    KIND: ClassVar[str] = "sweep"

    name: Name
    description: str = ""
    function: Literal["ishigami"] | None = Field(None, description="a test function instead of the model")
    method: Literal["sobol", "morris", "fast", "rbd_fast", "delta"]
    samples: Annotated[int, Field(ge=2, le=1_000_000)] = Field(
        description="sobol: N (N x (D+2) points); morris: trajectories; fast: N per parameter; rbd_fast, delta: N"
    )
    morris_levels: Annotated[int, Field(ge=2, le=20)] = 4
    replications: Annotated[int, Field(ge=1, le=1000)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    common_random_numbers: bool = Field(True, description="every point uses the same replication seeds")
    chunk: Annotated[int, Field(ge=1, le=10_000)] = Field(8, description="points per task and Parquet part")
    parameters: list[Parameter] = Field(min_length=1)
    outputs: list[Output] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Sweep:
        names = [p.name for p in self.parameters]
        if len(set(names)) < len(names):
            repeated = next(i for i, n in enumerate(names) if n in names[:i])
            raise CrossFieldError(f"parameter names repeat: {names}", f"parameters.{repeated}.name")
        if self.function is not None:
            bad = next((i for i, o in enumerate(self.outputs) if o.columns() != [o.indicator]), None)
            if bad is not None:
                raise CrossFieldError(
                    "a test function gives one value per point: its outputs take no year, years or mean_over",
                    f"outputs.{bad}",
                )
        if self.base is not None and any(p.path is None for p in self.parameters):
            first = next(i for i, p in enumerate(self.parameters) if p.path is None)
            raise CrossFieldError(
                "every parameter of a scenario sweep needs a path (the scenario field it sets)", f"parameters.{first}"
            )
        if self.method == "fast" and self.samples <= 64:
            raise CrossFieldError("fast needs samples > 64 (4 M^2 with M = 4)", "samples")
        return self

    @property
    def problem(self) -> dict:
        bounds, dists = zip(*(p.salib() for p in self.parameters))
        return {
            "num_vars": len(self.parameters),
            "names": [p.name for p in self.parameters],
            "bounds": [list(b) for b in bounds],
            "dists": list(dists),
        }

    @property
    def salib_options(self) -> dict:
        """The options SALib's sampling and analysis of the method share (its ``ProblemSpec`` methods)."""
        return {"sobol": {"calc_second_order": False}, "morris": {"num_levels": self.morris_levels}}.get(
            self.method, {}
        )

    def problem_spec(self) -> ProblemSpec:
        """The sweep's problem as a SALib ``ProblemSpec``: sample_<sampler> and analyze_<method> on it."""
        return ProblemSpec(self.problem)

    @property
    def columns(self) -> list[str]:
        return [c for o in self.outputs for c in o.columns()]


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; every parameter is tried at its extremes on the base scenario."""
    path = shipped_file(path, SCENARIOS_DIR / "sweeps", "sweep")
    layer = read_layer(path, "name, base or function, method, samples, parameters, outputs")
    sweep = validate(Sweep, {**layer.data, "source_file": path.resolve()}, [layer])
    x = _check_design(sweep, path, layer)
    if sweep.base is not None:
        _check_against_base(sweep, path, layer, x)
    return sweep


def _check_against_base(sweep: Sweep, path: Path, layer: Layer | None = None, x: np.ndarray | None = None) -> None:
    """The fixed overrides, outputs and every parameter's extreme values (of its distribution and of
    the sampled design ``x``) tried on the base scenario."""
    from abm.sim.indicators import names
    from abm.sim.model import run_grades

    def line(*loc) -> int | None:
        return depth_and_line(layer.node, loc)[1] if layer is not None else None

    scenario = sweep.base_scenario(path, layer)
    base = sweep.base_path()
    known = set(names(run_grades(scenario)))
    for i, output in enumerate(sweep.outputs):
        if output.indicator not in known:
            raise UserError(
                f"unknown indicator {output.indicator!r}; see results/README.md",
                file=path,
                field=f"outputs[{i}].indicator",
                line=line("outputs", i, "indicator"),
            )
        years = [output.year] if output.year else list(output.mean_over or output.years or [scenario.end_year])
        if not all(scenario.start_year <= y <= scenario.end_year for y in years):
            raise UserError(
                f"years {years} outside the scenario's {scenario.start_year}-{scenario.end_year}",
                file=path,
                field=f"outputs[{i}]",
                line=line("outputs", i),
            )
    for i, parameter in enumerate(sweep.parameters):
        extremes = (
            parameter.levels
            if parameter.type == "categorical"
            else [parameter.value(b) for b in _finite_extremes(parameter)]
        )
        if x is not None and parameter.type != "categorical" and len(x):
            extremes += [
                v for v in (parameter.value(x[:, i].min()), parameter.value(x[:, i].max())) if v not in extremes
            ]
        for value in extremes:
            try:
                load_scenario(base, [*sweep.set.items(), (parameter.path, value)])
            except UserError as err:
                raise UserError(
                    f"the value {value!r} does not fit the scenario: {err.message.removesuffix(FROM_OVERRIDES)}",
                    file=path,
                    field=f"parameters[{i}] ({parameter.name}: {parameter.path})",
                    line=line("parameters", i),
                ) from None


def _check_design(sweep: Sweep, path: Path, layer: Layer) -> np.ndarray:
    """SALib's sample of the design, drawn once before any folder exists: a method that cannot
    sample these parameters is one message (the draw costs milliseconds)."""
    try:
        with np.errstate(all="ignore"):
            x = sample(sweep)
    except (ValueError, ZeroDivisionError, IndexError) as err:
        raise UserError(
            f"{sweep.method} cannot sample this design ({err})",
            file=path,
            field="samples",
            line=depth_and_line(layer.node, ("samples",))[1],
        ) from None
    if not np.isfinite(x).all():
        raise UserError(
            f"{sweep.method} drew values that are not finite numbers; narrow the parameters' bounds",
            file=path,
            field="parameters",
            line=depth_and_line(layer.node, ("parameters",))[1],
        )
    return x


def check_scheduler(address: str) -> str:
    """A Dask scheduler address ``[scheme://]host:port`` (or ``inproc://...``); anything else is one
    :class:`UserError`, before any folder is made or connection tried."""
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import backends

    allowed = "allowed: tcp://host:port (or tls://, ws://, wss://), port 1-65535"
    try:
        scheme, location = parse_address(address)
        if scheme not in backends:
            raise ValueError(f"unknown scheme {scheme!r}")
        host, port = get_address_host_port(address) if scheme != "inproc" else (location, 1)
    except (ValueError, TypeError) as err:
        raise UserError(f"{address!r} is not a scheduler address ({err}); {allowed}", field="--scheduler") from None
    if not host or not 1 <= port <= 65535:
        raise UserError(f"{address!r} is not a scheduler address; {allowed}", field="--scheduler")
    return address


def check_memory(sweep: Sweep, workers: int) -> None:
    """The points of a scenario sweep, one per local worker at a time, must fit in memory
    (:func:`abm.infra.memory.check`): the base scenario at the most residents a parameter may give it."""
    if sweep.function is not None:
        return
    base = load_scenario(sweep.base_path(), list(sweep.set.items()))
    from abm.analysis.replications import resident_count

    residents = resident_count(base)
    for parameter in sweep.parameters:
        values = (
            parameter.levels
            if parameter.type == "categorical"
            else [parameter.value(b) for b in _finite_extremes(parameter)]
        )
        if parameter.path == "population.residents":
            residents = max([residents, *(int(v) for v in values if isinstance(v, (int, float)))])
    memory.check(
        residents,
        workers=workers,
        file=sweep.source_file,
        field="base",
        what=f"the sweep's points{f' on {workers} workers' if workers > 1 else ''}",
    )


def _finite_extremes(parameter: Parameter) -> list[float]:
    bounds, dist = parameter.salib()
    if dist in ("unif", "triang"):
        return [bounds[0], bounds[1] - (1.0 if parameter.type == "integer" else 0.0)]
    mean, sd = bounds
    extremes = [mean - 3 * sd, mean + 3 * sd]
    return list(np.exp(extremes)) if dist == "lognorm" else extremes


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- the design -------------------------------------------------------------------------------


def sample(sweep: Sweep) -> np.ndarray:
    """SALib's sample for the method, one row per point, parameters as floats."""
    spec = sweep.problem_spec()
    getattr(spec, f"sample_{SAMPLERS[sweep.method]}")(sweep.samples, seed=sweep.seed, **sweep.salib_options)
    return spec.samples


def design(sweep: Sweep) -> pd.DataFrame:
    """Points with their sampled floats (``x_<name>``) and seeds per replication."""
    x = sample(sweep)
    frame = pd.DataFrame(x, columns=[f"x_{p.name}" for p in sweep.parameters])
    frame.insert(0, "point", np.arange(len(frame)))
    return frame


def seeds(sweep: Sweep, point: int) -> list[int]:
    """The replication seeds of one point: shared by all points with common random numbers."""
    if sweep.common_random_numbers:
        return replication_seeds(sweep.seed, sweep.replications)
    child = np.random.SeedSequence(sweep.seed).spawn(point + 1)[point]
    return replication_seeds(int(child.generate_state(1)[0]), sweep.replications)


# --- evaluation -------------------------------------------------------------------------------


def evaluate_chunk(sweep: Sweep, points: pd.DataFrame) -> pd.DataFrame:
    """Every replication of some points: one row per point and replication with the outputs.

    Runs in a worker process (local pool or Dask), so it takes only picklable inputs.
    """
    rows = []
    for _, point in points.iterrows():
        values = {p.name: p.value(point[f"x_{p.name}"]) for p in sweep.parameters}
        for replication, seed in enumerate(seeds(sweep, int(point["point"]))):
            outputs = _evaluate(sweep, values, seed)
            rows.append({"point": int(point["point"]), "replication": replication, "seed": seed, **outputs})
    return pd.DataFrame(rows)


def _evaluate(sweep: Sweep, values: dict[str, Any], seed: int) -> dict[str, float]:
    if sweep.function is not None:
        return {c: v for o in sweep.outputs for c, v in zip(o.columns(), [FUNCTIONS[sweep.function](values)])}
    from abm.analysis.replications import simulate

    overrides = [*sweep.set.items(), *((p.path, values[p.name]) for p in sweep.parameters)]
    scenario = _scenario(str(sweep.base_path()), yaml.safe_dump(overrides))
    frame = simulate((scenario, seed, None))
    return {c: v for o in sweep.outputs for c, v in o.values(frame).items()}


@lru_cache(maxsize=64)
def _scenario(base: str, overrides: str) -> Scenario:
    return load_scenario(base, [tuple(item) for item in yaml.safe_load(overrides)])


def ishigami(values: dict[str, float]) -> float:
    """The Ishigami test function of x1, x2, x3 with a = 7, b = 0.1 (SALib's; analytical Sobol indices are known)."""
    return float(Ishigami.evaluate(np.array([[values["x1"], values["x2"], values["x3"]]]))[0])


FUNCTIONS: dict[str, Callable[[dict], float]] = {"ishigami": ishigami}


# --- running, streaming, resuming -------------------------------------------------------------


def prepare(sweep: Sweep, sweep_file: Path, out: Path, resume: bool) -> pd.DataFrame:
    """Create or check the sweep folder; return the design."""
    if continued("sweep", sweep, sweep_file, out, SWEEP_COPY, resume):
        return read_design(out)
    frame = design(sweep)
    _write_atomic(frame, out / DESIGN)
    (out / PARTS).mkdir(exist_ok=True)
    if sweep.base is not None:
        atomic.write_text(out / BASE_COPY, resolved_base(sweep))
    copy = out / SWEEP_COPY
    tmp = copy.with_name(f".{copy.name}.partial")
    tmp.write_bytes(Path(sweep_file).read_bytes())
    tmp.replace(copy)  # last: a folder with sweep.yaml has its design
    return frame


def continued(kind: str, spec, spec_file: Path, out: Path, copy_name: str, resume: bool) -> bool:
    """Whether ``out`` is an earlier folder of this ``kind`` ("sweep", "search") to continue; if not, it is
    made one (its marker written first, whatever else is written there later).

    Args:
        spec: the sweep or search (its ``base`` scenario, if any, must resolve as when the folder began).
        spec_file: its file; ``copy_name``: the copy of it the folder keeps (written last, by the caller).
        resume: continuing was asked for (``--resume``).

    Raises:
        UserError: the folder holds an earlier one and ``resume`` is false, or its file, base scenario or
            data files changed since.
    """
    out.mkdir(parents=True, exist_ok=True)
    copy, base = out / copy_name, out / BASE_COPY
    if copy.exists():
        if not resume:
            raise UserError(
                f"a {kind} folder already exists here: add --resume to continue it, or choose another --out", file=out
            )
        if file_hash(copy) != file_hash(spec_file):
            raise UserError(
                f"the {kind} file changed since this folder was started ({copy_name} differs); use another --out",
                file=spec_file,
            )
        if spec.base is not None and base.exists():
            old, new = base.read_text(encoding="utf-8"), resolved_base(spec)
            if old != new:
                refuse_changed_base(old, new, spec)
        return True
    marker = out / destinations.MARKER
    if not marker.exists():
        atomic.write_text(marker, json.dumps(destinations.marker(kind), indent=2))
    return False


DATA_HASH = ": sha256 "  # marks a data file's line at the end of the resolved base scenario


def resolved_base(sweep: Sweep) -> str:
    """The base scenario with the sweep's fixed overrides, as every point starts from it, and the
    digests of the data files it reads (a resumed sweep must read the same county and coefficients)."""
    scenario = load_scenario(sweep.base_path(), list(sweep.set.items()))
    digests = "".join(f"# {path}{DATA_HASH}{file_hash(path)}\n" for path in data_files(scenario))
    return scenario.to_yaml() + "# data files it reads:\n" + digests


def refuse_changed_base(old: str, new: str, sweep: Sweep) -> None:
    """One :class:`UserError` naming what changed since the folder was started: a data file or the scenario."""
    data = [line for line in set(new.splitlines()) ^ set(old.splitlines()) if DATA_HASH in line]
    changed = sorted({line.removeprefix("# ").split(DATA_HASH)[0] for line in data})
    if changed and all(DATA_HASH in line or not line.strip() for line in set(new.splitlines()) ^ set(old.splitlines())):
        raise UserError(
            f"a data file the base scenario reads changed since this folder was started ({BASE_COPY} "
            "records its digest); restore it or use another --out",
            file=changed[0],
        )
    raise UserError(
        f"the base scenario changed since this folder was started ({BASE_COPY} differs); use another --out",
        file=sweep.base_path(),
        field="base",
    )


def read_design(out: Path) -> pd.DataFrame:
    """The design of a sweep folder; a damaged one is a :class:`UserError` (the folder cannot go on)."""
    return read_parquet(
        out / DESIGN,
        "the sweep folder cannot be continued or analysed without it: run the sweep again into a new --out",
    )


def read_part(part: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One part of a sweep's runs; a damaged one is a :class:`UserError` saying how to run its points again."""
    return read_parquet(
        part,
        f"delete it and continue with `pension-abm sweep <sweep file> --out {part.parent.parent} "
        "--resume`, which runs its points again",
        columns,
    )


def done_points(out: Path) -> set[int]:
    """Points already written (complete parts only; partial files are ignored and removed)."""
    parts = out / PARTS
    for stale in parts.glob(".*.partial*"):
        stale.unlink()
    done: set[int] = set()
    for part in sorted(parts.glob("part-*.parquet")):
        done.update(read_part(part, ["point"])["point"].tolist())
    return done


def results(out: Path) -> pd.DataFrame:
    """Every run of the sweep so far, ordered by point and replication."""
    parts = sorted((out / PARTS).glob("part-*.parquet"))
    if not parts:
        return pd.DataFrame()
    return pd.concat([read_part(p) for p in parts]).sort_values(["point", "replication"]).reset_index(drop=True)


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def run_sweep(
    sweep: Sweep,
    sweep_file: Path,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict:
    """Run every missing point; return counts and timing. ``out`` must be new, empty or an earlier
    sweep folder (:func:`abm.infra.destinations.check`)."""
    destinations.check(out, "sweep")
    with _executor(workers, scheduler) as submit_all:  # first: an unreachable scheduler writes nothing
        frame = prepare(sweep, Path(sweep_file), out, resume)
        finished = done_points(out)
        todo = frame[~frame["point"].isin(finished)]
        chunks = [todo.iloc[i : i + sweep.chunk] for i in range(0, len(todo), sweep.chunk)]
        total, done = len(frame), len(finished)
        on_progress(done, total)
        started = time.perf_counter()
        for chunk_result in submit_all(sweep, chunks):
            first = int(chunk_result["point"].min())
            _write_atomic(chunk_result, out / PARTS / f"part-{first:08d}.parquet")
            done += chunk_result["point"].nunique()
            on_progress(done, total)
    seconds = time.perf_counter() - started
    runs = len(todo) * sweep.replications
    return {
        "points": total,
        "ran_points": len(todo),
        "runs": runs,
        "seconds": seconds,
        "runs_per_second": runs / seconds if seconds > 0 and runs else 0.0,
    }


@contextmanager
def _executor(workers: int, scheduler: str | None) -> Iterator[Callable]:
    """Yield ``submit_all(sweep, chunks)``, an iterator over finished chunks in completion order
    (:func:`abm.infra.executors.as_finished`)."""
    # interrupted: the chunks not started yet are dropped and the workers stopped, not drained
    with executor(workers, scheduler, ["abm.analysis.sweep", "abm.analysis.replications"]) as pool:
        yield lambda sweep, chunks: as_finished(pool, evaluate_chunk, chunks, sweep)
