"""Benchmark: the page's server-side cost of one simulated year plus redrawing every component.

Prints one JSON line per population size: residents, years, mean and worst milliseconds per
year (model step, then the map image and the charts' data redrawn), as the page pays them on
Step or Play.
The browser's own drawing is measured by tests/test_viz_browser.py.
Usage: python bench/bench_viz.py
"""

from __future__ import annotations

import json
import time

import solara

from abm.viz.levers import CountyModel
from abm.viz.panels import COMPONENTS

SIZES = (5_000, 20_000, 50_000)


def measure(residents: int) -> dict:
    model = CountyModel(residents=residents)

    year = solara.reactive(model.year)

    @solara.component
    def Components():
        year.get()                                # redrawn when the year changes, as on the page
        with solara.Column() as main:
            for component in COMPONENTS:
                component(model)
        return main

    _, context = solara.render(Components(), handle_error=False)
    times = []
    while model.running:
        start = time.perf_counter()
        model.step()
        year.set(model.year)
        times.append(time.perf_counter() - start)
    context.close()
    return {"residents": residents, "years": len(times), "mean_ms": round(1000 * sum(times) / len(times), 1),
            "worst_ms": round(1000 * max(times), 1)}


if __name__ == "__main__":
    for size in SIZES:
        print(json.dumps(measure(size)), flush=True)
