"""Serving the page: solara on a local address, offline front-end files, no telemetry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from abm.processes import die_with_parent
from abm.scenario import load_scenario
from abm.viz.levers import PROJECT, SCENARIO_VARIABLE, scenario_path

# Front-end packages solara would fetch from a CDN (npm specs as its pages request them),
# unpacked from the npm registry by `make assets`.
ASSETS = Path(os.environ.get("PENSION_ABM_ASSETS", PROJECT / ".cache" / "solara-cdn"))
FRONT_END = tuple(Path(__file__).with_name("front_end.txt").read_text().split())


def missing_assets(folder: Path = ASSETS) -> list[str]:
    return [spec for spec in FRONT_END if not (folder / spec / "package.json").is_file()]


def environment(scenario: Path, assets: Path = ASSETS) -> dict[str, str]:
    """The server's environment: the scenario, the local front-end cache, telemetry off."""
    return {**os.environ, SCENARIO_VARIABLE: str(scenario),
            "SOLARA_ASSETS_PROXY_CACHE_DIR": str(assets),
            "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}


def command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "solara", "run", "abm.viz.app", "--host", host, "--port", str(port),
            "--production", "--no-open", "--log-level", "warning"]


def checked_scenario(scenario: str) -> Path:
    """The scenario file as the page lists it; a bad file fails here with one clear message."""
    path = scenario_path(scenario)
    load_scenario(path)
    path = path.resolve()
    return path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path


def serve(scenario: Path, host: str, port: int, stop_seconds: float = 10.0) -> int:
    """Run the server until it exits (its exit code) or this process is interrupted: then the
    server is stopped before the interrupt goes on. The server dies with this process, even killed."""
    server = subprocess.Popen(command(host, port), env=environment(scenario), preexec_fn=die_with_parent)
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
