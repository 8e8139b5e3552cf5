"""The package as a user installs it: a wheel built from the repository, installed into a fresh
virtual environment, run from an empty folder with shipped scenarios named, not pathed.

The new environment reaches the third-party packages of the project's own (a path line in a
.pth file), so nothing is downloaded; that path line does not activate the project's editable
install, so `abm` can only come from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from helpers import REPO_ROOT

SOURCES = shutil.ignore_patterns(
    ".venv", ".git", "results", ".cache", "build", "*.egg-info", "__pycache__", ".pytest_cache", "docs", "bench"
)
SHIPPED = [
    "abm/scenarios/baseline.yaml",
    "abm/scenarios/troika.yaml",
    "abm/scenarios/sweeps/policy_levers.yaml",
    "abm/searches/cheapest_participation.yaml",
    "abm/searches/adequacy.yaml",
    "abm/calibration/fitted/coefficients.yaml",
    "abm/calibration/targets.yaml",
    "abm/calibration/evidence.yaml",
    "abm/calibration/survey/codebook.yaml",
    "abm/calibration/survey/qi_county_standin.csv",
    "abm/data/counties/qi_county.yaml",
    "abm/data/life_table_rural.csv",
    "abm/data/coefficients/default.yaml",
    "abm/viz/front_end.txt",
]
TIMES: dict[str, float] = {}
pytestmark = pytest.mark.slow  # a wheel built and installed, then real processes


def timed(name: str, args: list, **kwargs) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    TIMES[name] = time.perf_counter() - started
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """The wheel, a venv with it installed, and an empty working folder."""
    root = tmp_path_factory.mktemp("package")
    source, dist, venv, empty = root / "source", root / "dist", root / "venv", root / "empty"
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=SOURCES)  # no build/ or egg-info in the checkout
    built = timed(
        "build", [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source]
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("pension_abm-*.whl")
    made = timed("venv", [sys.executable, "-m", "venv", "--without-pip", venv])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    done = timed(
        "install", [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel]
    )
    assert done.returncode == 0, done.stderr
    empty.mkdir()
    return {"wheel": wheel, "venv": venv, "bin": venv / "bin", "site": site, "empty": empty}


def test_the_wheel_carries_the_shipped_files_once(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert set(SHIPPED) <= set(names), sorted(set(SHIPPED) - set(names))
    shipped = sorted(n.removeprefix("abm/scenarios/") for n in names if n.startswith("abm/scenarios/"))
    checkout = REPO_ROOT / "scenarios"
    assert shipped == sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*.yaml"))
    assert not any(n.startswith(("scenarios/", "searches/", "calibration/", "tests/")) for n in names)


def test_abm_comes_from_the_new_environment(installed):
    where = subprocess.run(
        [installed["bin"] / "python", "-c", "import abm; print(abm.__file__)"],
        cwd=installed["empty"],
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed["site"]), where.stdout


def test_a_shipped_scenario_runs_by_name_from_an_empty_folder(installed):
    out = installed["empty"] / "baseline-short"
    done = timed(
        "run",
        [
            installed["bin"] / "pension-abm",
            "run",
            "baseline",
            "--set",
            "end_year=2013",
            "--set",
            "population.residents=500",
            "--runs",
            "1",
            "--workers",
            "1",
            "--quiet",
            "--out",
            out,
        ],
        cwd=installed["empty"],
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary, "empty summary"
    metadata = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["git_commit"] is None, "the run used the checkout's abm, not the installed one"
    years = (out / "timeseries.csv").read_text(encoding="utf-8").splitlines()
    assert len(years) == 1 + 3  # header, 2011-2013
    print(
        f"\nwheel {installed['wheel'].stat().st_size / 1024:.0f} KiB; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in TIMES.items())
    )


def test_irr_and_the_calibration_guard_work_installed(installed):
    irr = timed(
        "irr",
        [
            installed["bin"] / "pension-abm",
            "irr",
            "--grade",
            "500",
            "--entry-age",
            "45",
            "--scenario",
            "troika",
            "--json",
        ],
        cwd=installed["empty"],
    )
    assert irr.returncode == 0, irr.stderr
    result = json.loads(irr.stdout)
    assert result["grade"] == 500 and 0 < result["irr"] < 1 and result["monthly_pension"] > 0
    refused = subprocess.run(
        [installed["bin"] / "pension-abm", "calibrate", "survey"],
        cwd=installed["empty"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--out" in refused.stderr, refused.stderr
    unknown = subprocess.run(
        [installed["bin"] / "pension-abm", "run", "nowhere"], cwd=installed["empty"], capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "troika" in unknown.stderr, unknown.stderr
    assert not any(installed["empty"].glob("results*")), "nothing written for bad input"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_page_serves_from_an_empty_folder_with_its_front_end_files(installed, tmp_path):
    """`pension-abm viz` from the installed package: the page and the front-end files it loads
    (requirejs, vega, vega-lite, from solara-assets, not npm) are served from this machine. The
    environment reaches the dependencies' Jupyter configuration as it reaches their code (a full
    install has it under its own prefix)."""
    import os
    import signal
    import urllib.request

    port, before = free_port(), sorted(installed["empty"].iterdir())
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"), "TMPDIR": str(tmp_path)}
    page = subprocess.Popen(
        [installed["bin"] / "pension-abm", "viz", "--port", str(port)],
        cwd=installed["empty"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    status, html = answer.status, answer.read().decode()
            except OSError:
                assert page.poll() is None, page.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        assert status == 200
        for asset in ("requirejs@2.3.6/require.js", "vega@5/build/vega.min.js", "vega-lite@5/build/vega-lite.min.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_solara/cdn/{asset}", timeout=30) as answer:
                assert answer.status == 200 and len(answer.read()) > 10_000, asset
        assert "_solara/cdn/requirejs@2.3.6/require.js" in html
    finally:
        os.killpg(page.pid, signal.SIGTERM)
        page.wait(timeout=30)
    assert sorted(installed["empty"].iterdir()) == before, "the page wrote into the working folder"


def test_calibrate_survey_writes_its_folder_from_the_installed_package(installed):
    """`pension-abm calibrate survey --out DIR` from an empty folder: the shipped stand-in survey and
    codebook are found in the package; the fitted coefficients and the report go to DIR only."""

    def package_files() -> dict[str, float]:
        return {
            str(p): p.stat().st_mtime
            for p in installed["site"].joinpath("abm").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    out, before = installed["empty"] / "my-calibration", package_files()
    done = timed(
        "calibrate", [installed["bin"] / "pension-abm", "calibrate", "survey", "--out", out], cwd=installed["empty"]
    )
    assert done.returncode == 0, done.stderr
    fitted = (out / "fitted" / "coefficients.yaml").read_text(encoding="utf-8")
    assert "status: fitted" in fitted and "estimation:" in fitted
    assert (out / "report.md").is_file() and any((out / "report_figures").glob("*.png"))
    assert package_files() == before, "the installed package was written to"
