"""Interruption with real signals: Ctrl-C once or twice, SIGTERM and a SIGKILL of the main process end
a parallel run, a sweep and the page with no process of theirs left running and nothing half-written.

Each command runs in its own process group (as a terminal or a job scheduler starts it); every process
it starts (forkserver, resource tracker, workers, the page's server) stays in that group, so the group
read from /proc is the command's whole process tree. Each command gets its own temporary directory
(TMPDIR) in pytest's temporary folder, so that what a killed command leaves there stays there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import BASELINE, REPO_ROOT

PENSION_ABM = Path(sys.executable).parent / "pension-abm"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {seconds} s"
        time.sleep(0.05)


@pytest.fixture
def tmpdir_of_commands(tmp_path_factory) -> Path:
    """The commands' TMPDIR: a folder of pytest's temporary tree with a short path, because a parallel
    run's forkserver puts a socket in it, and a socket's path has at most 107 characters (which
    ``tmp_path/tmp`` can pass under pytest-xdist with a long test name)."""
    return tmp_path_factory.mktemp("t")


def start(*args, cwd: Path, tmp: Path) -> subprocess.Popen:
    """The command in its own process group, with ``tmp`` as its temporary directory."""
    return subprocess.Popen(
        [str(PENSION_ABM), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )


def finish(process: subprocess.Popen, seconds: float = 30) -> str:
    """The command's stderr once it has exited, and its group gone; a leftover fails the test (then killed)."""
    try:
        _, stderr = process.communicate(timeout=seconds)
        wait_for(lambda: not group(process.pid), 10, "the command's processes gone")
    finally:
        if group(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait()
    return stderr


@pytest.fixture
def scenario(tmp_path) -> Path:
    """2,000 residents to 2050: eight runs on two workers are still running when stopped."""
    data = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    data.update(name="small", end_year=2050)
    data["population"] = dict(data["population"], residents=2000)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def running_run(scenario: Path, tmp_path: Path, tmp: Path) -> subprocess.Popen:
    """`pension-abm run --runs 8 --workers 2` with both workers simulating (main, forkserver, tracker, 2 workers)."""
    process = start(
        "run", scenario, "--runs", 8, "--workers", 2, "--quiet", "--out", tmp_path / "out", cwd=tmp_path, tmp=tmp
    )
    wait_for(lambda: len(group(process.pid)) >= 5 or process.poll() is not None, 60, "two workers")
    assert process.poll() is None, process.communicate()
    return process


def assert_nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".*partial*")), list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_ends_a_parallel_run_and_its_workers(scenario, tmp_path, tmpdir_of_commands, presses):
    process = running_run(scenario, tmp_path, tmpdir_of_commands)
    for _ in range(presses):
        os.killpg(process.pid, signal.SIGINT)  # the terminal sends Ctrl-C to the whole group
        time.sleep(0.2)
    stderr = finish(process)
    assert process.returncode == 130, stderr
    assert "interrupted; nothing was written" in stderr
    assert "Traceback" not in stderr
    assert_nothing_written(tmp_path)


@pytest.mark.slow
def test_sigterm_to_the_main_process_ends_a_parallel_run_like_ctrl_c(scenario, tmp_path, tmpdir_of_commands):
    process = running_run(scenario, tmp_path, tmpdir_of_commands)
    process.send_signal(signal.SIGTERM)  # a job scheduler's stop, to the main process alone
    stderr = finish(process)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert_nothing_written(tmp_path)


@pytest.mark.slow
def test_sigkill_of_the_main_process_leaves_no_worker_running(scenario, tmp_path, tmpdir_of_commands):
    process = running_run(scenario, tmp_path, tmpdir_of_commands)
    process.kill()
    finish(process)
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigkill_of_a_parallel_sweep_leaves_no_worker_running(tmp_path, tmpdir_of_commands):
    data = yaml.safe_load((REPO_ROOT / "tests" / "data" / "ishigami.yaml").read_text(encoding="utf-8"))
    file = tmp_path / "sweep.yaml"
    file.write_text(yaml.safe_dump({**data, "samples": 1024, "chunk": 1}), encoding="utf-8")
    process = start("sweep", file, "--workers", 2, "--out", tmp_path / "out", cwd=tmp_path, tmp=tmpdir_of_commands)
    wait_for(lambda: len(group(process.pid)) >= 5 or process.poll() is not None, 60, "two workers")
    assert process.poll() is None, process.communicate()
    process.kill()
    finish(process)
    assert process.returncode == -signal.SIGKILL


def ishigami_sweep(tmp_path: Path) -> Path:
    """A sweep of 5,120 one-point chunks: still running when stopped."""
    data = yaml.safe_load((REPO_ROOT / "tests" / "data" / "ishigami.yaml").read_text(encoding="utf-8"))
    file = tmp_path / "sweep.yaml"
    file.write_text(yaml.safe_dump({**data, "samples": 1024, "chunk": 1}), encoding="utf-8")
    return file


def press_twice(process: subprocess.Popen, gap: float) -> None:
    """Ctrl-C twice, ``gap`` seconds apart, to the command's group (the second may find it gone)."""
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(gap)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)


@pytest.mark.parametrize("gap", [0.0, 0.005, 0.05], ids=["together", "5ms-apart", "50ms-apart"])
def test_two_quick_ctrl_cs_end_a_parallel_sweep_with_130(tmp_path, tmpdir_of_commands, gap):
    """The second Ctrl-C may come while the first is being handled (submitting points, stopping the workers,
    exiting): the sweep still ends with exit 130, its message and no process left, never by the signal itself
    or hanging on a pool thread the first interrupt stopped mid-lock."""
    process = start(
        "sweep",
        ishigami_sweep(tmp_path),
        "--workers",
        2,
        "--out",
        tmp_path / "out",
        cwd=tmp_path,
        tmp=tmpdir_of_commands,
    )
    wait_for(lambda: len(group(process.pid)) >= 5 or process.poll() is not None, 60, "two workers")
    assert process.poll() is None, process.communicate()
    press_twice(process, gap)
    stderr = finish(process)
    assert process.returncode == 130, stderr
    assert "interrupted:" in stderr and "continue with --resume" in stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr  # nor the resource tracker's leaks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_page(tmp: Path) -> subprocess.Popen:
    """`pension-abm viz` on a free port, once its server has started (else stopped, and the test fails)."""
    process = start("viz", REPO_ROOT / "scenarios" / "baseline.yaml", "--port", free_port(), cwd=REPO_ROOT, tmp=tmp)
    try:
        wait_for(lambda: len(group(process.pid)) >= 2 or process.poll() is not None, 60, "the server started")
    except BaseException:
        process.kill()
        finish(process)
        raise
    assert process.poll() is None, process.communicate()
    return process


def front_end_links(tmp: Path) -> list[Path]:
    """The page's temporary folders of links to its front-end files, in the commands' TMPDIR."""
    return sorted(tmp.glob("*pension-abm-cdn-*"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_page_server_ends_with_the_command(tmpdir_of_commands, sig):
    """`pension-abm viz` stopped by SIGTERM or SIGKILL to its main process: the page's server is gone too.
    Its temporary folder goes with a SIGTERM; a SIGKILL leaves it, and the next start removes it."""
    process = start_page(tmpdir_of_commands)
    try:
        assert len(front_end_links(tmpdir_of_commands)) == 1
    finally:
        process.send_signal(sig)
        stderr = finish(process)
    assert process.returncode == (128 + signal.SIGTERM if sig == signal.SIGTERM else -signal.SIGKILL), stderr
    if sig == signal.SIGTERM:
        assert front_end_links(tmpdir_of_commands) == []
        return
    (left,) = front_end_links(tmpdir_of_commands)
    again = start_page(tmpdir_of_commands)
    try:
        assert not left.exists() and len(front_end_links(tmpdir_of_commands)) == 1, front_end_links(tmpdir_of_commands)
    finally:
        again.send_signal(signal.SIGTERM)
        stderr = finish(again)
    assert again.returncode == 128 + signal.SIGTERM, stderr
    assert front_end_links(tmpdir_of_commands) == []


def test_the_next_temporary_folder_removes_only_those_of_its_kind_left_by_killed_processes(tmp_path, monkeypatch):
    """What the page's next start does (:func:`abm.infra.atomic.temporary_folder`): a folder of its prefix left by
    a process that is gone goes; one of a live process, another host's or another prefix's stays."""
    from abm.infra.atomic import temporary_folder

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    dead = tmp_path / f".pension-abm-cdn-x1.partial-{host}-{gone.pid}"
    kept = [
        tmp_path / f".pension-abm-cdn-x2.partial-{host}-{os.getpid()}",  # still running
        tmp_path / f".pension-abm-cdn-x3.partial-elsewhere-{gone.pid}",  # another host's (a shared disk)
        tmp_path / f".other.partial-{host}-{gone.pid}",
    ]  # not the page's
    for folder in (dead, *kept):
        folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with temporary_folder("pension-abm-cdn-") as made:
        assert made.parent == tmp_path and made.name.startswith(".pension-abm-cdn-") and made.is_dir()
        assert made.name.endswith(f".partial-{host}-{os.getpid()}")
        assert not dead.exists() and all(folder.exists() for folder in kept)
    assert not made.exists()


def test_two_quick_ctrl_cs_end_the_page_with_130(tmpdir_of_commands):
    """Ctrl-C stops the page like any command: exit 130, the server gone, even pressed twice."""
    process = start_page(tmpdir_of_commands)
    press_twice(process, 0.005)
    stderr = finish(process)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr


def parent_blocks_ctrl_c() -> bool:
    """In a pool's worker: whether its parent, the forkserver, holds SIGINT blocked (so the worker was born so)."""
    status = Path(f"/proc/{os.getppid()}/status").read_text(encoding="utf-8")
    blocked = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
    return bool(blocked >> (signal.SIGINT - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux's /proc")
def test_workers_are_born_with_ctrl_c_blocked_until_they_ignore_it():
    """A Ctrl-C while a worker starts must not reach it before its initializer ignores it: the forkserver
    (every worker's parent) holds SIGINT blocked, and the worker itself, started, ignores it unblocked."""
    from abm.infra.processes import pool

    with pool(1, []) as executor:
        assert executor.submit(parent_blocks_ctrl_c).result()
        assert executor.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN
        assert signal.SIGINT not in executor.submit(signal.pthread_sigmask, signal.SIG_BLOCK, set()).result()
