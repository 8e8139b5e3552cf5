"""Serving the page: solara on a local address, offline front-end files, no telemetry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from abm.infra.atomic import temporary_folder
from abm.infra.processes import die_with_parent
from abm.inputs.datafiles import shipped_file
from abm.inputs.loader import load_scenario
from abm.viz.levers import PROJECT, SCENARIO_VARIABLE, scenario_path

ASSETS_PACKAGE = "solara-assets"  # solara's CDN files at exact versions, installed under <prefix>/share/solara/cdn


def _front_end() -> dict[str, str]:
    lines = Path(__file__).with_name("front_end.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split() for line in lines if line.strip() and not line.startswith("#"))


FRONT_END = _front_end()  # what the page requests -> the folder of solara-assets that holds it


def assets_folder() -> Path | None:
    """The CDN folder the installed solara-assets package carries, or None if it is not installed."""
    try:
        files = metadata.distribution(ASSETS_PACKAGE).files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "package.json" and file.parent.parent.name == "cdn":  # cdn/<package>@<version>/
            return Path(file.locate()).resolve().parent.parent
    return None


def missing_assets(folder: Path | None = None) -> list[str]:
    """The front-end files the page would have to fetch from the internet."""
    folder = folder or assets_folder()
    return [
        spec for spec, held in FRONT_END.items() if folder is None or not (folder / held / "package.json").is_file()
    ]


def link_assets(cache: Path, folder: Path | None = None) -> Path:
    """Make ``cache`` answer every request of :data:`FRONT_END` from solara-assets, by symbolic links."""
    folder = folder or assets_folder()
    if folder is not None:
        for spec, held in FRONT_END.items():
            if (folder / held).is_dir():
                (cache / spec).parent.mkdir(parents=True, exist_ok=True)
                (cache / spec).symlink_to(folder / held, target_is_directory=True)
    return cache


def environment(scenario: Path, cache: Path) -> dict[str, str]:
    """The server's environment: the scenario, the front-end files' folder, telemetry off."""
    return {
        **os.environ,
        SCENARIO_VARIABLE: str(scenario),
        "SOLARA_ASSETS_PROXY_CACHE_DIR": str(cache),
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    }


def command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "abm.viz.app",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--log-level",
        "warning",
    ]


def checked_scenario(scenario: str) -> Path:
    """The scenario file as the page lists it; a bad file fails here with one clear message."""
    path = shipped_file(scenario_path(scenario))
    load_scenario(path)
    path = path.resolve()
    return path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path


def _child_start(mask: set) -> Callable[[], None]:
    """In the server's process before it starts: the parent's signal mask back, death with the parent."""

    def start() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        die_with_parent()

    return start


def serve(scenario: Path, host: str, port: int, stop_seconds: float = 10.0) -> int:
    """Run the server until it exits (its exit code) or this process is interrupted (Ctrl-C, or
    SIGTERM as the command line turns it into an interrupt): then the server is stopped before the
    interrupt goes on. The server dies with this process, even killed. The folder of links solara
    serves the front end from is temporary and removed when the server stops (or, if this process
    is killed, by the next start)."""
    with temporary_folder("pension-abm-cdn-") as cache:
        # An interrupt during the start would leave a half-started server writing into the folder
        # after it is removed: the signals wait until `server` exists (the child unblocks them).
        stops = {signal.SIGINT, signal.SIGTERM}
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            server = subprocess.Popen(
                command(host, port), env=environment(scenario, link_assets(cache)), preexec_fn=_child_start(blocked)
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        try:
            return server.wait()
        except BaseException:
            server.terminate()
            try:
                server.wait(timeout=stop_seconds)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            raise
