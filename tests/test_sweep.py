"""Sweeps: checked sweep files, designs and seeds fixed by the sweep file alone, the same numbers from
one or two workers and from a Dask cluster, Parquet parts that let an interrupted or killed sweep
resume to exactly the uninterrupted result, and the shipped sweeps."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import abm.analysis.sweep
from abm.analysis.sweep import Parameter, design, done_points, evaluate_chunk, load_sweep, results, run_sweep
from abm.infra.errors import UserError
from abm.inputs.scenario import replication_seeds
from helpers import BASELINE, REPO_ROOT, folder_digest, invoke, squash

SWEEPS = REPO_ROOT / "scenarios" / "sweeps"
ISHIGAMI = Path(__file__).resolve().parent / "data" / "ishigami.yaml"
PENSION_ABM = Path(sys.executable).parent / "pension-abm"
TINY = {"population.residents": 100, "population.agents": "none", "end_year": 2030}


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def shrunk(name: str, **fields) -> dict:
    """A shipped sweep made tiny: its base by absolute path, 100 residents to 2030, Sobol N = 2 or 2
    Morris trajectories, and outputs up to 2030 of each kind (a year, a mean over years, a series)."""
    data = yaml.safe_load((SWEEPS / f"{name}.yaml").read_text(encoding="utf-8"))
    data["base"] = str((SWEEPS / data["base"]).resolve())
    data["set"] = {**data["set"], **TINY}
    data["samples"] = 2
    data["outputs"] = [
        {"indicator": "participation_rate", "mean_over": [2026, 2030]},
        {"indicator": "replacement_rate", "years": [2028, 2030]},
        {"indicator": "fund_balance", "year": 2030},
    ]
    return {**data, **fields}


def ishigami_copy(folder: Path, file: str = "ishigami.yaml", **fields) -> Path:
    """tests/data/ishigami.yaml with some fields replaced, written to ``folder``."""
    data = {**yaml.safe_load(ISHIGAMI.read_text(encoding="utf-8")), **fields}
    return write_yaml(folder / file, data)


def summary(output: str) -> str:
    """The line 'R runs (P of N points) in S s: ...' of a sweep's output."""
    return next(line for line in output.splitlines() if " runs (" in line)


def exact(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=True)


def assert_complete(out: Path) -> None:
    """Every point of the design, every replication, exactly once."""
    runs, points = results(out), pd.read_parquet(out / "design.parquet")["point"]
    replications = yaml.safe_load((out / "sweep.yaml").read_text(encoding="utf-8")).get("replications", 1)
    assert not runs.duplicated(["point", "replication"]).any()
    assert sorted(set(runs["point"])) == sorted(points) and len(runs) == len(points) * replications


# --- a tiny version of the shipped policy-lever sweep, run once by the command line ----------------

TINY_POINTS = 2 * (8 + 2)  # policy_levers' eight levers at Sobol N = 2


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    """policy_levers with 2 x (8 + 2) = 20 points x 2 replications, in chunks of 2 points."""
    return write_yaml(tmp_path_factory.mktemp("tiny") / "tiny_levers.yaml", shrunk("policy_levers", chunk=2))


@pytest.fixture(scope="module")
def reference(tiny_file) -> Path:
    """The tiny sweep run uninterrupted by the command line with one worker."""
    out = tiny_file.parent / "reference"
    result = invoke("sweep", tiny_file, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    (out / "cli_output.txt").write_text(result.output, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def two_workers(tiny_file) -> Path:
    """The same sweep on a local pool of two worker processes."""
    out = tiny_file.parent / "two_workers"
    run_sweep(load_sweep(tiny_file), tiny_file, out, workers=2)
    return out


@pytest.mark.slow
def test_a_tiny_real_model_sweep_runs_end_to_end(reference):
    """design, parts, the sweep file's copy, indices and a figure per output (and one over the years)."""
    assert summary((reference / "cli_output.txt").read_text()).startswith(
        f"{2 * TINY_POINTS} runs ({TINY_POINTS} of {TINY_POINTS} points) in "
    )
    names = {p.name for p in reference.iterdir()}
    assert {"sweep.yaml", "design.parquet", "parts", "indices.csv", "indices.json"} <= names
    assert len(list((reference / "parts").glob("part-*.parquet"))) == TINY_POINTS // 2
    assert {"indices_replacement_rate_over_years.png", "indices_fund_balance_2030.png"} <= names
    assert_complete(reference)
    runs = results(reference)
    assert list(runs.columns) == [
        "point",
        "replication",
        "seed",
        "participation_rate@mean2026-2030",
        "replacement_rate@2028",
        "replacement_rate@2030",
        "fund_balance@2030",
    ]
    assert runs.iloc[:, 3:].notna().all().all()
    indices = pd.read_csv(reference / "indices.csv")
    assert set(indices["parameter"]) == {p["name"] for p in shrunk("policy_levers")["parameters"]}


@pytest.mark.slow
def test_the_sweep_file_is_copied_byte_for_byte(reference, tiny_file):
    assert (reference / "sweep.yaml").read_bytes() == tiny_file.read_bytes()


@pytest.mark.slow
def test_one_and_two_workers_give_identical_results(reference, two_workers):
    exact(results(two_workers), results(reference))
    exact(pd.read_parquet(two_workers / "design.parquet"), pd.read_parquet(reference / "design.parquet"))


@pytest.mark.slow
def test_common_random_numbers_give_every_point_the_replication_seeds_of_the_sweep_seed(reference, tiny_file):
    runs, sweep = results(reference), load_sweep(tiny_file)
    expected = replication_seeds(sweep.seed, sweep.replications)
    for _, point in runs.groupby("point"):
        assert list(point["seed"]) == expected


def test_without_common_random_numbers_every_run_has_its_own_seed_and_reruns_repeat_them(tmp_path):
    file = ishigami_copy(tmp_path, samples=8, replications=3, common_random_numbers=False)
    sweep = load_sweep(file)
    run_sweep(sweep, file, tmp_path / "a", workers=1)
    run_sweep(sweep.model_copy(update={"chunk": 5}), file, tmp_path / "b", workers=1)
    seeds = results(tmp_path / "a")["seed"]
    assert seeds.nunique() == len(seeds) == 8 * 5 * 3
    exact(results(tmp_path / "a"), results(tmp_path / "b"))


def test_a_point_sets_each_scenario_field_to_its_sampled_value(tiny_file):
    """The run of a point equals a plain run of the base scenario with the point's values set."""
    from abm.analysis.replications import simulate
    from abm.inputs.loader import load_scenario

    sweep = load_sweep(tiny_file)
    point = design(sweep).iloc[[5]]
    row = evaluate_chunk(sweep, point).iloc[0]
    values = [(p.path, p.value(point[f"x_{p.name}"].iloc[0])) for p in sweep.parameters]
    scenario = load_scenario(BASELINE, [*sweep.set.items(), *values])
    frame = simulate((scenario, int(row["seed"]), None)).set_index("year")
    assert row["fund_balance@2030"] == frame.at[2030, "fund_balance"]
    assert row["participation_rate@mean2026-2030"] == frame.loc[2026:2030, "participation_rate"].mean()


def test_categorical_and_integer_parameters_reach_every_level_evenly():
    grades = Parameter(name="g", path="policy.grades.2026", type="categorical", levels=[[100], [200], [300]])
    age = Parameter(name="age", path="policy.pension_age.2030", type="integer", bounds=[60, 65])
    (low, high), _ = grades.salib()
    assert [grades.value(low + (high - low) * (i + 0.5) / 6) for i in range(6)] == [
        [100],
        [100],
        [200],
        [200],
        [300],
        [300],
    ]
    assert grades.value(high) == [300]
    (low, high), _ = age.salib()
    assert [age.value(low + (high - low) * (i + 0.5) / 6) for i in range(6)] == [60, 61, 62, 63, 64, 65]
    assert age.value(high) == 65


# --- Dask ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A local Dask cluster: two single-threaded workers in this process, their scratch space in a
    temporary folder (not the system's temporary directory)."""
    distributed = pytest.importorskip("distributed")
    import dask

    with (
        dask.config.set({"temporary-directory": str(tmp_path_factory.mktemp("dask"))}),
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
    ):
        yield cluster.scheduler_address


@pytest.mark.slow
def test_a_dask_cluster_gives_exactly_the_results_of_the_local_pool(
    dask_scheduler, tiny_file, two_workers, reference, tmp_path
):
    out = tmp_path / "dask"
    result = invoke("sweep", tiny_file, "--scheduler", dask_scheduler, "--out", out)
    assert result.exit_code == 0, result.output
    exact(results(out), results(two_workers))
    assert (out / "indices.csv").read_bytes() == (reference / "indices.csv").read_bytes()


def test_an_unreachable_scheduler_is_one_message(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    real = distributed.Client
    monkeypatch.setattr(distributed, "Client", lambda address, timeout: real(address, timeout="1s"))
    result = invoke(
        "sweep", ishigami_copy(tmp_path, samples=4), "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "out"
    )
    assert result.exit_code == 2
    assert "error:--scheduler:cannotreachtheDaskscheduler" in squash(result.output)
    assert not (tmp_path / "out").exists()  # nothing written: the same command can run again


# --- resuming ------------------------------------------------------------------------------------


def interrupt_after(chunks: int):
    """An ``on_progress`` that acts like Ctrl-C once ``chunks`` chunks are written."""
    calls = []

    def on_progress(done, total):
        calls.append(done)
        if len(calls) > chunks:
            raise KeyboardInterrupt

    return on_progress


@pytest.fixture
def ishigami_small(tmp_path):
    """Sobol N = 64 on Ishigami: 320 points in 20 chunks of 16, and the uninterrupted run."""
    file = ishigami_copy(tmp_path, samples=64, chunk=16)
    run_sweep(load_sweep(file), file, tmp_path / "uninterrupted", workers=1)
    return file, tmp_path / "uninterrupted"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_sweep_resumes_to_the_uninterrupted_results(ishigami_small, tmp_path, workers):
    file, uninterrupted = ishigami_small
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(file), file, out, workers=workers, on_progress=interrupt_after(3))
    saved = done_points(out)
    assert len(saved) == 3 * 16
    stats = run_sweep(load_sweep(file), file, out, workers=workers, resume=True)
    assert (stats["points"], stats["ran_points"]) == (320, 320 - 48)
    assert_complete(out)
    exact(results(out), results(uninterrupted))


def test_resume_reruns_lost_parts_and_ignores_half_written_ones(ishigami_small, tmp_path):
    """Deleted parts are run again, a part left half-written by a kill is removed, nothing else reruns."""
    file, uninterrupted = ishigami_small
    out = tmp_path / "out"
    run_sweep(load_sweep(file), file, out, workers=1)
    parts = sorted((out / "parts").glob("part-*.parquet"))
    for part in (parts[0], parts[7]):
        part.unlink()
    half = out / "parts" / ".part-00000320.parquet.partial-12345"
    half.write_bytes(b"PAR1 cut short")
    stats = run_sweep(load_sweep(file), file, out, workers=1, resume=True)
    assert stats["ran_points"] == 32 and not half.exists()
    assert_complete(out)
    exact(results(out), results(uninterrupted))


@pytest.mark.parametrize("damage", ["truncated", "emptied"])
def test_a_damaged_part_is_named_with_what_to_do_and_resume_then_completes(ishigami_small, tmp_path, damage):
    """analyze and sweep --resume over a part cut short (a full disk, a copy stopped half-way): one message
    naming the part and saying to delete it and resume; after that, the sweep completes to the same runs."""
    file, uninterrupted = ishigami_small
    out = tmp_path / "out"
    run_sweep(load_sweep(file), file, out, workers=1)
    part = sorted((out / "parts").glob("part-*.parquet"))[3]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2] if damage == "truncated" else b"")
    for command in (["analyze", out], ["sweep", file, "--workers", 1, "--out", out, "--resume"]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert squash(result.output).startswith(f"error:{part}:damagedornotaParquetfile("), result.output
        assert f"deleteitandcontinuewith`pension-abmsweep<sweepfile>--out{out}--resume`" in squash(result.output)
        assert "Traceback" not in result.output and "ArrowInvalid" not in result.output
        assert "0/?" not in result.output  # no progress bar drawn before the refusal
    part.unlink()
    result = invoke("sweep", file, "--workers", 1, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    exact(results(out), results(uninterrupted))


def test_a_damaged_design_is_named(ishigami_small, tmp_path):
    _file, uninterrupted = ishigami_small
    (uninterrupted / "design.parquet").write_bytes(b"PAR1")
    result = invoke("analyze", uninterrupted)
    assert result.exit_code == 2, result.output
    assert squash(result.output).startswith(f"error:{uninterrupted / 'design.parquet'}:damagedornotaParquetfile")
    assert "runthesweepagainintoanew--out" in squash(result.output)


def test_resuming_a_finished_sweep_runs_nothing(ishigami_small):
    file, uninterrupted = ishigami_small
    before = folder_digest(uninterrupted / "parts")
    stats = run_sweep(load_sweep(file), file, uninterrupted, workers=1, resume=True)
    assert (stats["ran_points"], stats["runs"]) == (0, 0)
    assert folder_digest(uninterrupted / "parts") == before


def test_a_chunk_size_does_not_change_the_results(ishigami_small, tmp_path):
    _file, uninterrupted = ishigami_small
    other = ishigami_copy(tmp_path, "chunks_of_7.yaml", samples=64, chunk=7)
    run_sweep(load_sweep(other), other, tmp_path / "out", workers=1)
    exact(results(tmp_path / "out"), results(uninterrupted))


def test_an_existing_sweep_folder_is_not_overwritten_without_resume(ishigami_small):
    file, uninterrupted = ishigami_small
    before = folder_digest(uninterrupted)
    result = invoke("sweep", file, "--workers", 1, "--out", uninterrupted)
    assert result.exit_code == 2
    assert squash(result.output).startswith(f"error:{uninterrupted}:asweepfolderalreadyexistshere:add--resume")
    assert folder_digest(uninterrupted) == before


def test_a_changed_sweep_file_is_not_resumed_into_an_old_folder(ishigami_small):
    file, uninterrupted = ishigami_small
    before = folder_digest(uninterrupted)
    file.write_text(file.read_text(encoding="utf-8").replace("seed: 7", "seed: 8"), encoding="utf-8")
    result = invoke("sweep", file, "--workers", 1, "--out", uninterrupted, "--resume")
    assert result.exit_code == 2
    assert f"error:{file}:thesweepfilechangedsincethisfolderwasstarted" in squash(result.output)
    assert folder_digest(uninterrupted) == before


def slow_chunk(sweep, points):
    """evaluate_chunk that takes a while and leaves a mark next to the sweep file (runs in a worker)."""
    marks = sweep.source_file.parent / "started"
    marks.mkdir(exist_ok=True)
    (marks / str(int(points["point"].min()))).touch()
    time.sleep(0.05)
    return evaluate_chunk(sweep, points)


@pytest.mark.slow
def test_an_interrupt_does_not_wait_for_the_chunks_not_started(tmp_path, monkeypatch):
    """Ctrl-C stops a local pool after the chunks in progress, not after running all queued chunks."""
    file = ishigami_copy(tmp_path, samples=8, chunk=1)  # 40 chunks
    monkeypatch.setattr(abm.analysis.sweep, "evaluate_chunk", slow_chunk)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(file), file, tmp_path / "out", workers=2, on_progress=interrupt_after(1))
    started = len(list((tmp_path / "started").iterdir()))
    assert started < 40 / 2, f"{started} of 40 chunks ran after the interrupt"


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGINT, 2), (signal.SIGKILL, 1)], ids=["ctrl-c", "kill"])
def test_a_sweep_stopped_from_outside_resumes_to_the_uninterrupted_results(
    tiny_file, reference, tmp_path, sig, workers
):
    """pension-abm sweep in its own process group, stopped as soon as its first part is on disk (Ctrl-C:
    SIGINT to the group; or SIGKILL), then continued with --resume: the same runs and indices."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [PENSION_ABM, "sweep", tiny_file, "--workers", str(workers), "--out", out],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((out / "parts").glob("part-*.parquet")) and process.poll() is None:
            assert time.monotonic() < deadline, "no part written in 120 s"
            time.sleep(0.005)
        os.killpg(process.pid, sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    saved = done_points(out)
    assert 0 < len(saved) < TINY_POINTS, f"the sweep was stopped with {len(saved)} of {TINY_POINTS} points saved"
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert f"interrupted:{len(saved)}pointsaresavedin{out};continuewith--resume" in squash(stderr)
    else:
        assert process.returncode == -signal.SIGKILL
    result = invoke("sweep", tiny_file, "--workers", 1, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    left = TINY_POINTS - len(saved)
    assert summary(result.output).startswith(f"{left * 2} runs ({left} of {TINY_POINTS} points) in ")
    assert_complete(out)
    exact(results(out), results(reference))
    assert (out / "indices.csv").read_bytes() == (reference / "indices.csv").read_bytes()


# --- bad sweep files -----------------------------------------------------------------------------

GOOD = {
    "name": "checked",
    "base": str(BASELINE),
    "set": dict(TINY),
    "method": "sobol",
    "samples": 2,
    "parameters": [
        {"name": "publicity", "path": "policy.publicity.2026", "bounds": [0.2, 1.0]},
        {"name": "top_up", "path": "policy.local_top_up.2026", "bounds": [0, 100]},
    ],
    "outputs": [{"indicator": "participation_rate", "year": 2030}],
}


def variant(change) -> dict:
    data = copy.deepcopy(GOOD)
    change(data)
    return data


BAD = {  # case: (sweep file data, what the message must name: the field and the problem)
    "unknown key": (variant(lambda d: d.update(replicatons=2)), ["replicatons", "unknownfield"]),
    "unknown key of a parameter": (
        variant(lambda d: d["parameters"][0].update(bound=[0, 1])),
        ["parameters.0.bound", "unknownfield"],
    ),
    "decreasing bounds": (
        variant(lambda d: d["parameters"][1].update(bounds=[100, 0])),
        ["parameters.1", "boundsmustbeincreasing"],
    ),
    "three bounds for a uniform": (
        variant(lambda d: d["parameters"][1].update(bounds=[0, 1, 2])),
        ["parameters.1", "boundsof2numbers"],
    ),
    "unknown parameter path": (
        variant(lambda d: d["parameters"][0].update(path="policy.publicty.2026")),
        ["parameters[0](publicity:policy.publicty.2026)", "unknownfield"],
    ),
    "upper bound out of range": (
        variant(lambda d: d["parameters"][0].update(bounds=[0.2, 1.5])),
        ["parameters[0](publicity:policy.publicity.2026)", "thevalue1.5doesnotfit"],
    ),
    "integer out of range": (
        variant(
            lambda d: d["parameters"].append(
                {"name": "age", "path": "policy.pension_age.2030", "type": "integer", "bounds": [60, 95]}
            )
        ),
        ["parameters[2](age:policy.pension_age.2030)", "thevalue95doesnotfit"],
    ),
    "normal tail out of range": (
        variant(
            lambda d: d["parameters"].append(
                {"name": "rate", "path": "policy.interest_rate.2026", "distribution": "normal", "bounds": [0.03, 0.5]}
            )
        ),
        ["parameters[2](rate:policy.interest_rate.2026)", "doesnotfit"],
    ),
    "invalid level": (
        variant(
            lambda d: d["parameters"].append(
                {
                    "name": "grades",
                    "path": "policy.grades.2026",
                    "type": "categorical",
                    "levels": [[100, 200], [200, 100]],
                }
            )
        ),
        ["parameters[2](grades:policy.grades.2026)", "thevalue[200,100]doesnotfit"],
    ),
    "negative revision interval": (
        variant(
            lambda d: d["parameters"].append(
                {"name": "revision", "path": "policy.grade_revision.every", "type": "categorical", "levels": [0, 5, -5]}
            )
        ),
        ["parameters[2](revision:policy.grade_revision.every)", "thevalue-5doesnotfit", "greaterthanorequalto0"],
    ),
    "a grade no run offers": (
        variant(lambda d: d["outputs"][0].update(indicator="grade_share_9000")),
        ["outputs[0].indicator", "unknownindicator'grade_share_9000'"],
    ),
    "unknown method": (variant(lambda d: d.update(method="sobel")), ["method", "'sobel'"]),
    "missing base": (variant(lambda d: d.update(base="nowhere.yaml")), ["base", "'nowhere.yaml'notfound"]),
    "unknown indicator": (
        variant(lambda d: d["outputs"][0].update(indicator="participation")),
        ["outputs[0].indicator", "unknownindicator'participation'"],
    ),
    "output year after the end": (
        variant(lambda d: d["outputs"][0].update(year=2045)),
        ["outputs[0]", "[2045]outside"],
    ),
    "mean over reversed years": (
        variant(lambda d: d["outputs"][0].update(year=None, mean_over=[2030, 2026])),
        ["outputs.0", "mean_overis[first,last]year"],
    ),
    "empty series of years": (
        variant(lambda d: d["outputs"][0].update(year=None, years=[])),
        ["outputs.0", "years:giveatleastoneyear"],
    ),
    "base and function": (variant(lambda d: d.update(function="ishigami")), ["eitherbase", "orfunction"]),
    "fixed override unknown": (
        variant(lambda d: d["set"].update({"population.residnts": 3})),
        ["set(population.residnts)", "unknownfield"],
    ),
    "fast too small": (variant(lambda d: d.update(method="fast", samples=64)), ["fastneedssamples>64"]),
    "infinite bound": (
        variant(lambda d: d["parameters"][1].update(bounds=[0, float("inf")])),
        ["parameters.1.bounds.1", "finitenumber"],
    ),
    "NaN bound": (
        variant(lambda d: d["parameters"][1].update(bounds=[float("nan"), 1])),
        ["parameters.1.bounds.0", "finitenumber"],
    ),
    "repeated parameter name": (
        variant(lambda d: d["parameters"][1].update(name="publicity")),
        ["parameters.1.name", "parameternamesrepeat"],
    ),
    "missing coefficients file": (
        variant(lambda d: d["set"].update({"behaviour.coefficients": "nowhere.yaml"})),
        ["set(behaviour.coefficients)", "'nowhere.yaml'notfound"],
    ),
    "bad county override": (
        variant(lambda d: d["set"].update({"population.county_overrides.villages": 0})),
        ["set(population.county_overrides.villages)", "greaterthanorequalto1"],
    ),
}


def test_a_sweep_output_may_name_a_grade_only_a_revised_list_offers(tmp_path):
    """grade_share_2500 is an indicator of the baseline to 2030 (the 2030 revision offers 2,500), not of
    the same run with the rule off: sweep files are checked against the grades the runs will offer."""
    data = variant(lambda d: d["outputs"][0].update(indicator="grade_share_2500"))
    assert load_sweep(write_yaml(tmp_path / "revised.yaml", data)).outputs[0].indicator == "grade_share_2500"
    data["set"]["policy.grade_revision.every"] = 0
    with pytest.raises(UserError, match="unknown indicator 'grade_share_2500'"):
        load_sweep(write_yaml(tmp_path / "frozen.yaml", data))


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_sweep_file_is_one_message_naming_the_file_and_field(tmp_path, case):
    data, names = BAD[case]
    file = write_yaml(tmp_path / "bad.yaml", data)
    result = invoke("sweep", file, "--workers", 1, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    text = squash(result.output)
    assert text.startswith(f"error:{file}"), result.output
    for name in names:
        assert name in text, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert "commandline" not in text  # nothing was set on the command line
    assert text.count("(got") <= 1 and "(toplevel)" not in text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("case", "key"),
    [
        ("unknown indicator", "indicator:"),
        ("missing base", "base:"),
        ("upper bound out of range", "name: publicity"),
        ("repeated parameter name", "name: publicity"),
        ("fixed override unknown", "population.residnts:"),
    ],
)
def test_a_sweep_error_names_the_line_of_the_key(tmp_path, case, key):
    """As the README promises: the sweep file's line, also for checks against the base scenario."""
    data, _ = BAD[case]
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), encoding="utf-8")
    lines = [i for i, text in enumerate(file.read_text().splitlines(), 1) if key in text]
    result = invoke("sweep", file, "--workers", 1, "--out", tmp_path / "out")
    assert result.exit_code == 2 and any(f"line {line}:" in result.output for line in lines), (lines, result.output)


@pytest.mark.parametrize(
    "address",
    ["garbage", "tcp://127.0.0.1", "tcp://127.0.0.1:notaport", "foo://host:1", "tcp://host:0", "tcp://host:70000", ""],
)
def test_a_malformed_scheduler_address_is_one_message_before_anything_runs(tmp_path, address):
    result = invoke("sweep", ishigami_copy(tmp_path, samples=4), "--scheduler", address, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert squash(result.output).startswith("error:--scheduler:") and "allowed:tcp://host:port" in squash(result.output)
    assert result.output.count("error:") == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("changed", ["county", "coefficients"])
def test_resume_refuses_a_changed_data_file_of_the_base_scenario(tmp_path, changed):
    """Not only the scenario: the county and coefficients files it reads must be those the folder began with."""
    county, coefficients = tmp_path / "county.yaml", tmp_path / "coefficients.yaml"
    county.write_text((REPO_ROOT / "abm" / "data" / "counties" / "qi_county.yaml").read_text(encoding="utf-8"))
    coefficients.write_text((REPO_ROOT / "abm" / "data" / "coefficients" / "default.yaml").read_text(encoding="utf-8"))
    base = write_yaml(
        tmp_path / "base.yaml",
        {
            "extends": str(BASELINE),
            "name": "base",
            "population": {"county": str(county)},
            "behaviour": {"coefficients": str(coefficients)},
        },
    )
    data = variant(lambda d: d.update(base=str(base), samples=2, chunk=64))
    data["set"] |= {"population.residents": 100, "end_year": 2013}
    data["outputs"] = [{"indicator": "participation_rate", "year": 2013}]
    sweep_file = write_yaml(tmp_path / "sweep.yaml", data)
    out = tmp_path / "out"
    assert invoke("sweep", sweep_file, "--out", out, "--workers", 1).exit_code == 0
    before = folder_digest(out)
    edited = county if changed == "county" else coefficients
    edited.write_text(edited.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    result = invoke("sweep", sweep_file, "--out", out, "--workers", 1, "--resume")
    text = squash(result.output)
    assert result.exit_code == 2 and f"error:{edited.resolve()}:" in text, result.output
    assert "adatafilethebasescenarioreadschanged" in text and folder_digest(out) == before


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    file = tmp_path / "broken.yaml"
    file.write_text("name: broken\nfunction: ishigami\nmethod: [sobol\n", encoding="utf-8")
    result = invoke("sweep", file, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert squash(result.output).startswith(f"error:{file},line4:invalidYAML")
    assert not (tmp_path / "out").exists()


def test_a_missing_sweep_file_is_one_message(tmp_path):
    result = invoke("sweep", tmp_path / "none.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert squash(result.output) == f"error:{tmp_path / 'none.yaml'}:filenotfound"
    assert not (tmp_path / "out").exists()


def test_an_unknown_key_of_a_parameter_lists_the_allowed_keys(tmp_path):
    data, _ = BAD["unknown key of a parameter"]
    result = invoke("sweep", write_yaml(tmp_path / "bad.yaml", data), "--out", tmp_path / "out")
    assert "allowedhere:name,path,type,bounds,distribution,levels" in squash(result.output)


def test_the_default_sweep_folder_is_results_sweeps_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", ishigami_copy(tmp_path, samples=4), "--workers", 1)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "sweeps" / "ishigami" / "indices.csv").is_file()


# --- the shipped sweeps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parameters", "points"), [("policy_levers", 8, 64 * (8 + 2)), ("behaviour", 10, 20 * (10 + 1))]
)
def test_a_shipped_sweep_loads_and_has_the_design_its_comment_gives(name, parameters, points):
    sweep = load_sweep(SWEEPS / f"{name}.yaml")
    assert sweep.base_path().resolve() == BASELINE.resolve()
    assert len(sweep.parameters) == parameters
    frame = design(sweep)
    assert len(frame) == points and list(frame["point"]) == list(range(points))
    for parameter in sweep.parameters:  # every sampled value is one the scenario accepts
        values = frame[f"x_{parameter.name}"].map(parameter.value)
        if parameter.type == "categorical":
            assert {repr(v) for v in values} <= {repr(v) for v in parameter.levels}
        else:
            assert parameter.bounds[0] <= values.min() and values.max() <= parameter.bounds[1]


@pytest.mark.slow
def test_a_tiny_behaviour_screening_runs_end_to_end(tmp_path):
    # 2 trajectories x (10 parameters + 1)
    file = write_yaml(tmp_path / "behaviour.yaml", shrunk("behaviour", replications=1))
    result = invoke("sweep", file, "--workers", 1, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert summary(result.output).startswith("22 runs (22 of 22 points) in ")
    indices = pd.read_csv(tmp_path / "out" / "indices.csv")
    assert {"mu", "mu_star", "mu_star_conf", "sigma"} <= set(indices.columns)
    assert "warning:samples=2isbelowthe20" in squash(result.output)


def test_an_error_in_a_list_item_points_at_that_items_line(tmp_path):
    text = ISHIGAMI.read_text(encoding="utf-8").replace(
        "- {name: x2, bounds: [-3.141592653589793, 3.141592653589793]}", "- {name: x2, bounds: [1.0, 0.5]}"
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "name: x2" in row)
    result = invoke("sweep", path, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert f"line {line}:" in result.output and "parameters.1" in result.output, result.output


@pytest.mark.slow
def test_resume_refuses_a_changed_base_scenario(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(f"extends: {BASELINE}\nname: base\n", encoding="utf-8")
    data = yaml.safe_load((REPO_ROOT / "scenarios" / "sweeps" / "behaviour.yaml").read_text(encoding="utf-8"))
    data |= {"base": str(base), "samples": 2, "replications": 1}
    data["set"] |= {"population.residents": 200, "end_year": 2013}
    data["outputs"] = [{"indicator": "participation_rate", "year": 2013}]
    sweep_file = write_yaml(tmp_path / "sweep.yaml", data)
    out = tmp_path / "out"
    assert invoke("sweep", sweep_file, "--out", out, "--workers", 1).exit_code == 0
    base.write_text(f"extends: {BASELINE}\nname: base\nrun: {{seed: 5}}\n", encoding="utf-8")
    result = invoke("sweep", sweep_file, "--out", out, "--workers", 1, "--resume")
    assert result.exit_code == 2 and "basescenariochanged" in squash(result.output), result.output


def test_a_test_function_output_takes_no_years(tmp_path):
    result = invoke(
        "sweep", ishigami_copy(tmp_path, outputs=[{"indicator": "y", "years": [1, 2]}]), "--out", tmp_path / "out"
    )
    assert result.exit_code == 2 and "outputs take no year" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_a_sweep_names_its_base_by_path_or_by_a_shipped_name(tmp_path):
    """The base is a path relative to the sweep file, or a shipped scenario's name (as for searches,
    abm/inputs/study.py): both give the shipped baseline."""
    relative = write_yaml(tmp_path / "relative.yaml", shrunk("policy_levers"))
    named = write_yaml(tmp_path / "named.yaml", shrunk("policy_levers", base="baseline"))
    assert load_sweep(named).base_path().resolve() == load_sweep(relative).base_path().resolve() == BASELINE.resolve()
