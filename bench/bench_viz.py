"""Benchmark: the page's server-side cost of one simulated year plus redrawing every component.

Prints one JSON line per population size: residents, years, mean and worst milliseconds per
year (model step, then the map image and the charts' data redrawn), as the page pays them on
Step or Play. Where chromium and Playwright are installed it also serves the page and times
Step clicks in the browser until the new year shows (default size, 5,000 residents).
Usage: python bench/bench_viz.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import solara
from mesa.visualization.utils import force_update

from abm.viz.levers import CountyModel
from abm.viz.panels import COMPONENTS

SIZES = (5_000, 20_000, 50_000)


def measure(residents: int) -> dict:
    model = CountyModel(residents=residents)

    @solara.component
    def Components():  # each redrawn after a step, as on the page (force_update)
        with solara.Column() as main:
            for component in COMPONENTS:
                component(model)
        return main

    _, context = solara.render(Components(), handle_error=False)
    times = []
    while model.running:
        start = time.perf_counter()
        model.step()
        force_update()
        times.append(time.perf_counter() - start)
    context.close()
    return {
        "residents": residents,
        "years": len(times),
        "mean_ms": round(1000 * sum(times) / len(times), 1),
        "worst_ms": round(1000 * max(times), 1),
    }


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLICKS = 20


def measure_browser() -> dict | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    command = [str(Path(sys.executable).parent / "pension-abm"), "viz", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)
            step = page.get_by_role("button", name="Step")
            step.wait_for(timeout=60_000)
            times = []
            for number in range(1, CLICKS + 1):
                start = time.perf_counter()
                step.click()
                page.get_by_text(re.compile(rf"^Time: {number}(\.0)?$")).wait_for()
                times.append(time.perf_counter() - start)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
    return {
        "browser_step": "chromium",
        "residents": 5_000,
        "clicks": CLICKS,
        "mean_ms": round(1000 * sum(times) / len(times), 1),
        "worst_ms": round(1000 * max(times), 1),
    }


def _wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the page did not come up at {url}")


if __name__ == "__main__":
    for size in SIZES:
        print(json.dumps(measure(size)), flush=True)
    browser = measure_browser()
    print(json.dumps(browser) if browser else '{"browser_step": "skipped: chromium or playwright missing"}')
