"""Output folders: the tool replaces only an earlier results folder of the same kind and refuses
anything else (a folder of other files, '.', '..', a file, an unwritable place) with exit 2 before
anything runs; staging folders of killed processes are removed by the next write there."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from abm.analysis import replications
from abm.infra import atomic, destinations
from abm.infra.errors import UserError
from helpers import folder_digest, invoke, squash

ISHIGAMI = Path(__file__).resolve().parent / "data" / "ishigami.yaml"


@pytest.fixture
def no_simulation(monkeypatch):
    """Any simulation fails the test: the output folder must be refused before one starts."""

    def fail(*args, **kwargs):
        raise AssertionError("a simulation started before the output folder was checked")

    monkeypatch.setattr(replications, "run", fail)


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``, hidden ones too, with the files' digests."""
    return {**folder_digest(root), **{str(p.relative_to(root)): "dir" for p in root.rglob("*") if p.is_dir()}}


def project_like(root: Path) -> Path:
    """A folder like the repository's: scenario files, a results folder with its README, a plain file."""
    (root / "scenarios").mkdir(parents=True)
    (root / "scenarios" / "baseline.yaml").write_text("name: baseline\n")
    (root / "results").mkdir()
    (root / "results" / "README.md").write_text("# Results\n")
    (root / "notes.txt").write_text("mine\n")
    return root


REFUSED = {  # --out, words of the message
    "scenarios": "notemptyandnotanearlierrunfolder",
    "results": "notemptyandnotanearlierrunfolder",
    ".": "'.'and'..'cannotberesultsfolders",
    "..": "'.'and'..'cannotberesultsfolders",
    "results/..": "'.'and'..'cannotberesultsfolders",
    "notes.txt": "isafile,notafolder",
    "notes.txt/run": "cannotbecreated",
    "/proc/pension-abm-results": "cannotbewritten",
}


@pytest.mark.parametrize(("out", "words"), REFUSED.items(), ids=REFUSED.keys())
def test_run_refuses_what_it_did_not_write_before_running(
    tmp_path, monkeypatch, small_scenario_file, no_simulation, out, words
):
    root = project_like(tmp_path / "project")
    monkeypatch.chdir(root)
    before = tree(tmp_path)
    result = invoke("run", small_scenario_file, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert f"{out}:--out:" in squash(result.output) and words in squash(result.output)
    assert "Traceback" not in result.output
    assert tree(tmp_path) == before


def test_a_scenario_named_dot_is_refused_as_a_folder_name(tmp_path, monkeypatch, small_scenario_file, no_simulation):
    """Before, its default folder results/. was results/ itself: the README went with it."""
    root = project_like(tmp_path / "project")
    monkeypatch.chdir(root)
    data = yaml.safe_load(small_scenario_file.read_text(encoding="utf-8"))
    dot = tmp_path / "dot.yaml"
    dot.write_text(yaml.safe_dump({**data, "name": "."}), encoding="utf-8")
    before = tree(tmp_path)
    result = invoke("run", dot, "--quiet")
    assert result.exit_code == 2, result.output
    assert "dot.yaml:name:'.'cannotnamearesultsfolder" in squash(result.output)
    assert tree(tmp_path) == before


def test_the_folder_holding_the_package_or_the_working_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in (destinations.PACKAGE.parent, tmp_path, tmp_path.parent):
        with pytest.raises(UserError, match="working folder or the project's own files"):
            destinations.check(folder, "run")


@pytest.mark.slow
def test_an_earlier_run_folder_is_replaced_and_carries_the_marker(tmp_path, small_scenario_file):
    out = tmp_path / "out"
    assert invoke("run", small_scenario_file, "--out", out, "--quiet", "--seed", 1).exit_code == 0
    assert json.loads((out / "metadata.json").read_text())["format"] == "pension-abm/run/1"
    assert destinations.kind_of(out) == "run"
    result = invoke("run", small_scenario_file, "--out", out, "--quiet", "--seed", 2)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metadata.json").read_text())["seed"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_folder_of_another_kind_is_not_replaced(tmp_path, small_scenario_file, no_simulation):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metadata.json").write_text(json.dumps(destinations.marker("compare")))
    (out / "comparison.md").write_text("# Comparison\n")
    before = tree(tmp_path)
    result = invoke("run", small_scenario_file, "--out", out, "--quiet")
    assert result.exit_code == 2 and "anearliercomparefolder,notarunfolder" in squash(result.output)
    assert tree(tmp_path) == before


def test_an_old_folder_without_the_marker_is_refused(tmp_path, small_scenario_file, no_simulation):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metadata.json").write_text(json.dumps({"seed": 1}))  # written before folders carried a format
    (out / "timeseries.csv").write_text("run,year\n")
    result = invoke("run", small_scenario_file, "--out", out, "--quiet")
    assert result.exit_code == 2 and "nomarker" in squash(result.output)


def test_compare_refuses_a_folder_of_other_files_before_running(
    tmp_path, monkeypatch, small_scenario_file, no_simulation
):
    root = project_like(tmp_path / "project")
    monkeypatch.chdir(root)
    before = tree(tmp_path)
    result = invoke("compare", small_scenario_file, small_scenario_file, "--out", "scenarios")
    assert result.exit_code == 2 and "notemptyandnotanearliercomparefolder" in squash(result.output)
    assert tree(tmp_path) == before


def test_an_earlier_comparison_may_be_replaced_by_a_comparison_only(tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "metadata.json").write_text(json.dumps(destinations.marker("compare")))
    (out / "comparison.md").write_text("# Comparison\n")
    assert destinations.check(out, "compare") == out
    for kind in ("run", "sweep", "calibration"):
        with pytest.raises(UserError, match=f"an earlier compare folder, not a {kind} folder"):
            destinations.check(out, kind)


def test_sweep_refuses_a_folder_of_other_files_and_resumes_its_own(tmp_path, monkeypatch):
    root = project_like(tmp_path / "project")
    monkeypatch.chdir(root)
    sweep = tmp_path / "ishigami.yaml"
    sweep.write_text(yaml.safe_dump({**yaml.safe_load(ISHIGAMI.read_text()), "samples": 8}), encoding="utf-8")
    before = tree(tmp_path)
    for out in ("results", ".", "notes.txt"):
        result = invoke("sweep", sweep, "--workers", 1, "--out", out, "--resume")
        assert result.exit_code == 2, result.output
        assert f"{out}:--out:" in squash(result.output)
    assert tree(tmp_path) == before
    result = invoke("sweep", sweep, "--workers", 1, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert destinations.kind_of(tmp_path / "out") == "sweep"
    result = invoke("sweep", sweep, "--workers", 1, "--out", tmp_path / "out", "--resume")
    assert result.exit_code == 0 and "0 runs (0 of 40 points)" in result.output


def test_calibrate_refuses_a_folder_that_is_not_a_calibration_folder(tmp_path, monkeypatch):
    root = project_like(tmp_path / "project")
    monkeypatch.chdir(root)
    before = tree(tmp_path)
    for command in (["survey"], ["aggregates", "--budget", 1]):
        result = invoke("calibrate", *command, "--out", "results")
        assert result.exit_code == 2, result.output
        assert "notemptyandnotanearliercalibrationfolder" in squash(result.output)
    assert tree(tmp_path) == before


LONG = "x" * 300  # one name longer than the file system's 255 bytes


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["run", "SCENARIO", "--out", f"results/{LONG}"], "is300byteslong;thefilesystemholdsnamesofatmost255bytes"),
        (["run", "SCENARIO", "--out", "y" * 250], "is250byteslong;atmost"),
        (["sweep", ISHIGAMI, "--workers", 1, "--out", f"sweeps/{LONG}"], "is300byteslong"),
        (["calibrate", "standin", "--out", f"{LONG}/standin.csv"], "is300byteslong"),
        (["run", "SCENARIO", "--out", "/"], "isthefilesystem'sroot;nameafolderinsideit"),
    ],
    ids=["run", "run-temporary-name", "sweep", "standin", "root"],
)
def test_a_path_the_file_system_cannot_hold_is_refused_before_running(
    tmp_path, monkeypatch, small_scenario_file, no_simulation, command, words
):
    """A name over 255 bytes in --out (or one that would be, under the temporary name a run is built under),
    and the root folder: one message naming --out, not an OSError once the run is done."""
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    result = invoke(*[small_scenario_file if part == "SCENARIO" else part for part in command])
    assert result.exit_code == 2, result.output
    assert ":--out:" in squash(result.output) and words in squash(result.output), result.output
    assert "Traceback" not in result.output and "Errno" not in result.output
    assert tree(tmp_path) == before


def test_a_symbolic_link_to_nothing_is_refused_before_running(tmp_path, small_scenario_file, no_simulation):
    link = tmp_path / "latest"
    link.symlink_to(tmp_path / "gone")
    result = invoke("run", small_scenario_file, "--out", link, "--quiet")
    assert result.exit_code == 2, result.output
    assert f"isasymboliclinkto{tmp_path / 'gone'},whichdoesnotexist" in squash(result.output)
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["latest", "small.yaml"]


def test_a_symbolic_link_to_an_earlier_run_folder_is_written_through(tmp_path, small_scenario_file):
    """The run replaces the link's target; the link stays, pointing at it, and nothing else is left."""
    target = tmp_path / "runs" / "first"
    assert invoke("run", small_scenario_file, "--out", target, "--quiet", "--seed", 1).exit_code == 0
    link = tmp_path / "latest"
    link.symlink_to(target)
    result = invoke("run", small_scenario_file, "--out", link, "--quiet", "--seed", 2)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert json.loads((target / "metadata.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "runs", "small.yaml"]
    assert [p.name for p in target.parent.iterdir()] == ["first"]


@pytest.mark.parametrize("command", ["run", "compare", "validate"])
def test_a_mount_point_is_refused_for_a_folder_replaced_as_a_whole(
    tmp_path, monkeypatch, small_scenario_file, no_simulation, command
):
    """A run is built beside its folder and renamed into place, which a mount point cannot take (EBUSY)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(destinations.os.path, "ismount", lambda path: Path(path) == mount or real(path))
    sources = [small_scenario_file] * (2 if command == "compare" else 1)
    result = invoke(command, *sources, "--out", mount)
    assert result.exit_code == 2, result.output
    assert f"{mount}:--out:isamountpoint" in squash(result.output)
    assert f"nameafolderinsideit,e.g.{mount / 'results'}" in squash(result.output)
    assert list(mount.iterdir()) == [] and not list(tmp_path.glob(".*"))


def test_a_failed_rename_leaves_the_earlier_folder_and_no_staging(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "a.txt").write_text("earlier")
    rename = Path.rename

    def refuse_the_staging(self, target):
        if ".partial-" in self.name:
            raise OSError(16, "Device or resource busy")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_the_staging)
    with pytest.raises(OSError), atomic.folder(out) as staging:
        (staging / "a.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (out / "a.txt").read_text() == "earlier"


# --- staging folders ---------------------------------------------------------------------------


def dead_pid() -> int:
    """The id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_staging_folders_of_killed_processes_are_removed_by_the_next_write(tmp_path):
    host = socket.gethostname()
    dead = [tmp_path / f".run.partial-{host}-{dead_pid()}", tmp_path / f".other.old-{host}-{dead_pid()}"]
    alive = [
        tmp_path / f".run.partial-{host}-{os.getppid()}",  # a process still writing
        tmp_path / f".run.partial-elsewhere-{dead_pid()}",
    ]  # another host's (a shared disk)
    for folder in dead + alive:
        folder.mkdir()
        (folder / "timeseries.csv").write_text("run,year\n")
    with atomic.folder(tmp_path / "run") as staging:
        (staging / "a.txt").write_text("a")
    assert not any(p.exists() for p in dead)
    assert all(p.exists() for p in alive)
    assert (tmp_path / "run" / "a.txt").read_text() == "a"


def test_files_put_in_place_together_or_not_at_all(tmp_path):
    folder = tmp_path / "cal"
    (folder / "fitted").mkdir(parents=True)
    (folder / "fitted" / "coefficients.yaml").write_text("old")
    (folder / "targets.yaml").write_text("mine")
    before = tree(tmp_path)

    def failing_report() -> None:
        with atomic.files(folder) as staging:
            (staging / "fitted").mkdir()
            (staging / "fitted" / "coefficients.yaml").write_text("new")
            raise RuntimeError("the report failed")

    with pytest.raises(RuntimeError):
        failing_report()
    assert tree(tmp_path) == before
    with atomic.files(folder) as staging:
        (staging / "fitted").mkdir()
        (staging / "fitted" / "coefficients.yaml").write_text("new")
        (staging / "report.md").write_text("report")
    after = tree(tmp_path)
    assert set(after) == set(before) | {"cal/report.md"}
    changed = {"cal/report.md", "cal/fitted/coefficients.yaml"}
    assert {k: v for k, v in after.items() if k not in changed} == {k: v for k, v in before.items() if k not in changed}
    assert (folder / "fitted" / "coefficients.yaml").read_text() == "new"
    assert (folder / "targets.yaml").read_text() == "mine"


def test_the_standin_survey_overwrites_only_an_earlier_standin(tmp_path, monkeypatch):
    root = project_like(tmp_path / "project")
    monkeypatch.chdir(root)
    before = tree(tmp_path)
    for out, words in (
        ("notes.txt", "existsandwasnotwrittenbythiscommand"),
        ("results", "isafolder"),
        (".", "'.'and'..'arefolders"),
    ):
        result = invoke("calibrate", "standin", "--out", out)
        assert result.exit_code == 2, result.output
        assert f"{out}:--out:" in squash(result.output) and words in squash(result.output)
    assert tree(tmp_path) == before
    for _ in range(2):  # the second time replaces the first stand-in
        result = invoke("calibrate", "standin", "--out", "standin.csv", "--respondents", 50)
        assert result.exit_code == 0, result.output
