"""Memory: a command that cannot fit is refused before it simulates, with its estimate, the limit and
advice; running out of memory anyway (in a worker process too) is one message, exit 2, nothing written."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml

from abm.analysis import replications
from abm.infra import memory, processes
from abm.infra.errors import UserError
from helpers import BASELINE, folder_digest, invoke, squash

GIB = 1 << 30


def tree(root: Path) -> dict[str, str]:
    return {**folder_digest(root), **{str(p.relative_to(root)): "dir" for p in root.rglob("*") if p.is_dir()}}


@pytest.fixture
def no_simulation(monkeypatch):
    """Any model built fails the test: the command must be refused before."""

    def fail(*args, **kwargs):
        raise AssertionError("a simulation started before the memory was checked")

    monkeypatch.setattr("abm.sim.model.PensionModel.__init__", fail)


@pytest.fixture
def little_left(monkeypatch):
    """A machine with 400 MiB left."""
    monkeypatch.setattr(memory, "available", lambda: (400 * memory.MIB, "left in this test"))


def sweep_file(folder: Path, residents: int) -> Path:
    data = {
        "name": "big",
        "base": str(BASELINE),
        "set": {"end_year": 2030, "population.agents": "none"},
        "method": "sobol",
        "samples": 2,
        "parameters": [
            {"name": "residents", "path": "population.residents", "type": "integer", "bounds": [1000, residents]}
        ],
        "outputs": [{"indicator": "participation_rate", "year": 2030}],
    }
    path = folder / "big.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


MILLION = "population.residents=1000000"
COMMANDS = {  # arguments (SCENARIO: a small scenario file), words of the message
    "run": (
        ["run", "SCENARIO", "--set", MILLION, "--quiet"],
        "small.yaml:population.residents:1runofsmall,1,000,000residents,needsabout758MiB",
    ),
    "run-2-workers": (
        [
            "run",
            "SCENARIO",
            "--set",
            MILLION,
            "--set",
            "population.agents=none",
            "--runs",
            4,
            "--workers",
            2,
            "--quiet",
        ],
        "4runsofsmallon2workers,1,000,000residents,needsabout1.6GiB",
    ),
    "compare": (["compare", "SCENARIO", "SCENARIO", "--set", MILLION], "1runofsmall,1,000,000residents"),
    "validate": (
        ["validate", "SCENARIO", "--residents", 1_000_000, "--runs", 1, "--workers", 1],
        "--residents:1runofsmall,1,000,000residents",
    ),
    "experiments": (
        ["experiments", "SCENARIO", "--residents", 1_000_000, "--runs", 1, "--year", 2011, "--workers", 2],
        "--residents:1replay(s)oftheexperimentson2workers,1,000,000residents,needsabout1.1GiB",
    ),
    "explain": (
        ["explain", "SCENARIO", "--year", 2012, "--resident", 1, "--set", MILLION],
        "population.residents:arunofsmallto2012,1,000,000residents",
    ),
    "sweep": (["sweep", "SWEEP", "--workers", 2], "big.yaml:base:thesweep'spointson2workers,2,000,000residents"),
    "calibrate-aggregates": (
        ["calibrate", "aggregates", "--residents", 2_000_000, "--out", "calibration"],
        "--residents:thefit'sruns,2,000,000residents,",
    ),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_too_large_for_the_memory_left_is_refused_before_it_simulates(
    tmp_path, monkeypatch, small_scenario_file, no_simulation, little_left, command
):
    monkeypatch.chdir(tmp_path)
    args, words = COMMANDS[command]
    sweep = sweep_file(tmp_path, 2_000_000)
    before = tree(tmp_path)
    result = invoke(*[{"SCENARIO": small_scenario_file, "SWEEP": sweep}.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    message = squash(result.output)
    assert message.startswith("error:") and words in message, result.output
    assert "ofmemory;400MiBisleftinthistest:usefewerresidents" in message
    assert "population.agents" not in message  # Household agents are made only when asked for: no advice
    assert ("fewer--workers" in message) == (command in ("run-2-workers", "sweep", "experiments"))
    assert "Traceback" not in result.output
    assert tree(tmp_path) == before


def test_a_command_that_fits_is_not_refused(tmp_path, small_scenario_file, monkeypatch):
    """2,000 residents on a machine with 1 GiB left: run."""
    monkeypatch.setattr(memory, "available", lambda: (GIB, "left in this test"))
    result = invoke("run", small_scenario_file, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output


def test_the_process_address_space_limit_is_checked(tmp_path, small_scenario_file, no_simulation, monkeypatch):
    monkeypatch.setattr(memory, "address_space", lambda: 800 * memory.MIB)
    result = invoke("run", small_scenario_file, "--set", "population.residents=200000", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "needsabout840MiBofaddressspaceineachsimulatingprocess;thelimitis800MiB(RLIMIT_AS,`ulimit-v`)" in squash(
        result.output
    )
    assert not (tmp_path / "out").exists()


def test_cgroup_limits_of_the_process_and_its_parents_are_read(tmp_path):
    """cgroup v2 (memory.max, "max" for none) and v1 (memory.limit_in_bytes, a huge number for none)."""
    job = tmp_path / "cg" / "user.slice" / "job"
    job.mkdir(parents=True)
    (job / "memory.max").write_text(f"{2 * GIB}\n")
    (job / "memory.current").write_text(f"{GIB // 2}\n")
    (job.parent / "memory.max").write_text("max\n")
    (job.parent / "memory.current").write_text("12345\n")
    v1 = tmp_path / "cg" / "memory" / "batch"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{4 * GIB}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{GIB}\n")
    (v1.parent / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1.parent / "memory.usage_in_bytes").write_text(f"{GIB}\n")
    membership = tmp_path / "cgroup"
    membership.write_text("4:memory:/batch\n3:cpu:/elsewhere\n0::/user.slice/job\n")
    room = memory._cgroup_room(membership, tmp_path / "cg")
    assert [(n / GIB, text.split("(")[1].split(":")[0]) for n, text in room] == [
        (3.0, str(v1 / "memory.limit_in_bytes")),
        (1.5, str(job / "memory.max")),
    ]
    assert "3.0 GiB is left by the cgroup's limit" in f"{memory.size(room[0][0])} is {room[0][1]}"


def test_a_memory_error_inside_a_run_is_one_message_and_nothing_is_written(tmp_path, small_scenario_file, monkeypatch):
    def exhausted(self):
        np.zeros(1 << 55)  # 256 PiB: numpy's _ArrayMemoryError

    monkeypatch.setattr("abm.sim.model.PensionModel.step", exhausted)
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    result = invoke("run", small_scenario_file, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[0].startswith("error: out of memory; nothing was written: use fewer")
    assert len(result.output.strip().splitlines()) <= 3 and "Traceback" not in result.output  # one (wrapped) line
    assert tree(tmp_path) == before


def test_a_memory_error_inside_a_worker_process_is_one_message(tmp_path, small_scenario_file, monkeypatch):
    """The workers of a real pool each fail to allocate: the error comes back through the pool as one message."""

    @contextmanager
    def exhausting_pool(workers, jobs):
        with processes.pool(2, []) as executor:
            yield lambda function, items: executor.map(bytearray, [1 << 60] * len(items))

    monkeypatch.setattr(replications, "_pool", exhausting_pool)
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    result = invoke("run", small_scenario_file, "--runs", 2, "--workers", 2, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert squash(result.output).startswith("error:outofmemory;nothingwaswritten:usefewerresidents")
    assert "Traceback" not in result.output and "RemoteTraceback" not in result.output
    assert tree(tmp_path) == before


def test_a_killed_worker_is_one_message():
    """A worker ended from outside (the kernel's out-of-memory killer): a UserError, not BrokenProcessPool."""
    with (
        pytest.raises(
            UserError,
            match=r"a worker process was killed \(most often by the system, for lack of "
            r"memory\): use fewer residents",
        ),
        processes.pool(1, []) as pool,
    ):
        pool.submit(os._exit, 1).result()
