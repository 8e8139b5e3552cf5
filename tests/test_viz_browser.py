"""The page in a real browser: `pension-abm viz` served, driven with Playwright and Debian's chromium.

The page must work with no network: every request that does not go to the server is aborted and
recorded, and the server must not have fetched front-end files from a CDN either. Needs
/usr/bin/chromium (apt-get install chromium) and Playwright for Python; never `playwright install`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from helpers import REPO_ROOT

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
PENSION_ABM = Path(sys.executable).parent / "pension-abm"
SERVER_START_SECONDS = 90
WAIT_MS = 20_000  # for the page to react to a click
pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


if (_reason := _missing()) is not None:
    warnings.warn(f"BROWSER TESTS OF THE PAGE SKIPPED: {_reason}", stacklevel=1)
    pytest.skip(f"BROWSER TESTS OF THE PAGE SKIPPED: {_reason}", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from abm.viz import app  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, log: Path):
        self.url, self.log = url, log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A temporary folder for the server's log and temporary directory, and the screenshots."""
    return tmp_path_factory.mktemp("viz")


@pytest.fixture(scope="module")
def server(out):
    """`pension-abm viz` on a free port, from the repository root, with ``out/tmp`` as its temporary
    directory; its output goes to ``out/server.log``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = out / "server.log"
    (out / "tmp").mkdir()
    env = {k: x for k, x in os.environ.items() if k != "PENSION_ABM_VIZ_SCENARIO"} | {"TMPDIR": str(out / "tmp")}
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [str(PENSION_ABM), "viz", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Server(url, log)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"pension-abm viz exited with {process.returncode}:\n{served.output()}")
            try:
                with urllib.request.urlopen(url + "/", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"pension-abm viz did not answer within {SERVER_START_SECONDS} s:\n{served.output()}")
            time.sleep(0.3)
        yield served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Offline:
    """A browser context that lets through only requests to the server, recording the others."""

    def __init__(self, browser, server: Server):
        self.server = server
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1700})
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url == self.server.url or url.startswith(self.server.url + "/"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(self.server.url + "/")
        expect(page.get_by_text(re.compile(r"^The county in \d{4}"))).to_be_visible(timeout=60_000)
        return page

    def check(self) -> None:
        assert self.outside == [], f"the page tried to reach beyond the server: {self.outside}"
        assert self.errors == [], f"errors in the page: {self.errors}"
        log = self.server.output()
        assert "Could not load URL" not in log, f"the server fell back to a CDN:\n{log}"
        assert "Traceback" not in log, log


@pytest.fixture
def offline(browser, server):
    session = Offline(browser, server)
    yield session
    session.context.close()
    session.check()


# --- reading and driving a page ----------------------------------------------------------------------------


def time_text(number: int) -> re.Pattern:
    """Mesa's ShowSteps text: "Time: N" (Mesa 3.5 shows model.time, a float: "Time: 1.0")."""
    return re.compile(rf"^Time: {number}(\.0)?$")


def shown_time(page: Page) -> int:
    text = page.get_by_text(re.compile(r"^Time: \d")).inner_text()
    return int(float(text.removeprefix("Time: ")))


def expect_time(page: Page, number: int) -> None:
    expect(page.get_by_text(time_text(number))).to_be_visible(timeout=WAIT_MS)


def expect_map_year(page: Page, year: int) -> None:
    expect(page.get_by_text(re.compile(rf"^The county in {year}:"))).to_be_visible(timeout=WAIT_MS)


def step(page: Page, times: int = 1) -> None:
    for _ in range(times):
        before = shown_time(page)
        page.get_by_role("button", name="Step").click()
        expect_time(page, before + 1)


MAP = ".county-map .vega-embed .marks"
EXPLANATION = ".explanation .vega-embed .marks"
# the run's charts: vega draws on a canvas (or in an svg); not the map nor the explanation
CHARTS = ", ".join(f".vega-embed {m}.marks:not(.county-map *):not(.explanation *)" for m in ("canvas", "svg"))
INK = """charts => charts.map(c => {
    if (c.tagName.toLowerCase() === 'svg') return c.querySelectorAll('.mark-line path, .mark-area path').length;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.min(d[i], d[i + 1], d[i + 2]) < 200) ink++;
    return ink;
})"""


def chart_ink(page: Page) -> list[int]:
    """Per chart drawn, how much is drawn: dark pixels on a canvas, or marks in an svg."""
    return page.locator(CHARTS).evaluate_all(INK)


# --- tests -------------------------------------------------------------------------------------------------


def test_the_page_loads_offline_with_the_map_and_the_charts(offline):
    page = offline.open()
    expect(page.get_by_role("tab")).to_have_text([app.TAB], ignore_case=True)  # one tab, with its name
    expect_time(page, 0)
    expect_map_year(page, 2011)
    expect(page.get_by_text(re.compile(r"^From 2026: publicity 0\.50"))).to_be_visible()
    expect(page.locator(MAP)).to_be_visible()
    for status in ("not eligible", "not paying", "lowest grade", "higher grade", "pensioner"):
        expect(page.get_by_text(re.compile(rf"^{status} \d+%$"))).to_be_visible()
    step(page)
    # the five chart widgets (Enrolment, Grades, Pensions, Fund, Sustainability; titles checked in test_viz.py)
    expect(page.locator(CHARTS)).to_have_count(5, timeout=WAIT_MS)
    page.wait_for_timeout(600)  # the charts redraw after a short debounce
    assert all(ink > 1000 for ink in chart_ink(page)), chart_ink(page)
    box = page.locator(MAP).bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100, box


def test_step_advances_the_year(offline, out, capsys):
    page = offline.open()
    step(page)
    expect_map_year(page, 2011)  # the map shows the year just simulated
    step(page, 2)
    expect_time(page, 3)
    expect_map_year(page, 2013)
    expect(page.locator(CHARTS)).to_have_count(5, timeout=WAIT_MS)
    page.wait_for_timeout(600)  # the charts redraw after a short debounce
    shot = out / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot of the page after 3 steps: {shot}")


def test_play_runs_several_years_then_pauses(offline):
    page = offline.open()
    page.get_by_role("button", name="▶").click()
    pause = page.get_by_role("button", name="❚❚")
    expect(pause).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Step")).to_be_disabled()
    expect(page.get_by_text(re.compile(r"^Time: ([4-9]|\d\d)(\.0)?$"))).to_be_visible(timeout=WAIT_MS)
    pause.click()
    expect(page.get_by_role("button", name="▶")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Step")).to_be_enabled()
    page.wait_for_timeout(500)  # a step in flight may still land
    stopped = shown_time(page)
    page.wait_for_timeout(1000)
    assert shown_time(page) == stopped, "the model kept running after pause"
    assert stopped >= 4
    expect_map_year(page, 2011 + stopped - 1)


def test_reset_returns_to_the_start_and_leaves_the_levers_as_they_were(offline):
    page = offline.open()
    levers = page.get_by_text(re.compile(r"^From 2026:")).inner_text()
    step(page, 2)
    page.get_by_role("button", name="Reset").click()
    expect_time(page, 0)
    expect_map_year(page, 2011)
    # no control was touched: the rebuilt model has the very same levers (no slider snapped a value)
    assert page.get_by_text(re.compile(r"^From 2026:")).inner_text() == levers
    step(page)
    expect_map_year(page, 2011)


def test_a_control_moved_in_the_browser_takes_effect_on_reset(offline):
    page = offline.open()
    page.get_by_label("Minimum grade (yuan/year)").click(force=True)
    page.locator(".v-menu__content .v-list-item", has_text=re.compile(r"^\s*200\s*$")).click()
    pension_age = page.get_by_role("slider", name="Pension age (years)")
    row = page.locator("div", has=pension_age).filter(has=page.locator(".slider-value")).last  # the slider's row
    shown = row.locator(".slider-value")
    expect(shown).to_have_text("60")  # each slider shows its value
    pension_age.focus()
    for _ in range(5):
        pension_age.press("ArrowRight")
    expect(pension_age).to_have_attribute("aria-valuenow", "65")
    expect(shown).to_have_text("65")
    expect(page.get_by_text(re.compile(r"^From 2026:"))).to_contain_text("minimum grade 100,")  # not before Reset
    page.get_by_role("button", name="Reset").click()
    levers = page.get_by_text(re.compile(r"^From 2026:"))
    expect(levers).to_contain_text("minimum grade 200,", timeout=WAIT_MS)
    expect(levers).to_contain_text("pension age 65")
    expect(levers).to_contain_text("basic pension 146 yuan/month")
    expect_time(page, 0)


def test_two_tabs_run_independent_models(offline):
    first = offline.open()
    second = offline.open()
    step(first, 2)
    expect_map_year(first, 2012)
    second.wait_for_timeout(500)
    expect_time(second, 0)
    expect_map_year(second, 2011)
    step(second)
    expect_time(second, 1)
    expect_time(first, 2)
    first.get_by_role("button", name="Reset").click()
    expect_time(first, 0)
    expect_time(second, 1)


def test_a_click_on_a_village_explains_one_of_its_residents(offline, out, capsys):
    page = offline.open()
    expect(page.get_by_text(re.compile(r"^Click a village on the map"))).to_be_visible(timeout=WAIT_MS)
    step(page, 3)
    expect_map_year(page, 2013)
    page.wait_for_timeout(600)  # the map redraws after a short debounce
    page.locator(MAP).click(position={"x": 8, "y": 8})  # the first village's block, top left
    title = page.get_by_text(re.compile(r"^Resident \d+ \(age \d+, village 0\), 2013: why they (pay \d+|do not pay)$"))
    expect(title).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(EXPLANATION)).to_have_count(1)
    page.wait_for_timeout(600)  # the chart draws after a short debounce
    assert page.locator(EXPLANATION).evaluate_all(INK)[0] > 1000
    resident = int(re.match(r"Resident (\d+)", title.inner_text()).group(1))
    expect(page.get_by_label("Resident id")).to_have_value(str(resident))
    step(page)  # redrawn for the next year
    expect(page.get_by_text(re.compile(rf"^Resident {resident} .*, 2014: "))).to_be_visible(timeout=WAIT_MS)
    page.wait_for_timeout(600)
    shot = out / "explain.png"
    page.screenshot(path=str(shot), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot of the page explaining a resident: {shot}")
    resident_id = page.get_by_label("Resident id")
    resident_id.fill("999999")
    resident_id.press("Enter")
    expect(page.get_by_text("Resident 999999 is not in the county in 2014.")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(EXPLANATION)).to_have_count(0)
