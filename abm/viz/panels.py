"""What the page shows: the county map, why a resident clicked on it pays what they pay, and the
run's charts, redrawn after every step.

Each component is a solara component of the model, redrawn when the model steps (SolaraViz's
update counter; being components already, SolaraViz keeps them across its own redraws). The map
is a small image made straight from the columns, under one clickable block per village; the
charts are Vega-Lite specifications the browser draws, so a redraw costs the server milliseconds.
"""

from __future__ import annotations

import base64
import io
import math
import weakref
from typing import NamedTuple

import altair as alt
import numpy as np
import pandas as pd
import solara
from matplotlib.colors import to_rgb
from mesa.visualization.utils import update_counter
from PIL import Image

from abm.analysis import plots
from abm.sim.agents import STATUSES, status_codes
from abm.sim.choice import MECHANISMS
from abm.sim.policy import eligible_to_contribute

# Colours of STATUSES, then of an empty cell (the grid is not full).
STATUS_COLOURS = ("#c8c8c8", "#d7301f", "#fdae61", "#1a9850", "#4575b4")
EMPTY = "#ffffff"
PALETTE = (np.array([to_rgb(c) for c in (*STATUS_COLOURS, EMPTY)]) * 255).astype(np.uint8)
MAP_PIXELS = 480  # the map image's longer side
MAP_WIDTH = 460  # pixels, the map as drawn on the page
MAP_ASPECT = 1.8  # villages per row / per column, so that the map fits a wide card
CHART_HEIGHT = 210  # pixels
PAIR_WIDTH = 190  # pixels, each of two charts side by side


class Layout(NamedTuple):
    """Where the villages sit on the map, in cells: ``side`` cells per block side, one blank cell
    between blocks (``block`` = side + 1), ``columns`` x ``rows`` blocks."""

    side: int
    block: int
    columns: int
    rows: int


def map_layout(village: np.ndarray, villages: int) -> Layout:
    counts = np.bincount(village, minlength=villages)
    side = math.ceil(math.sqrt(max(int(counts.max(initial=1)), 1)))
    columns = math.ceil(math.sqrt(villages * MAP_ASPECT))
    return Layout(side, side + 1, columns, math.ceil(villages / columns))


def county_grid(village: np.ndarray, codes: np.ndarray, villages: int) -> np.ndarray:
    """Villages as square blocks on a grid, each resident a cell holding its status code
    (len(STATUSES) where there is nobody). Residents sit in their village in id order."""
    counts = np.bincount(village, minlength=villages)
    side, block, columns, rows = map_layout(village, villages)
    grid = np.full((rows * block, columns * block), len(STATUSES), dtype=np.int8)
    order = np.argsort(village, kind="stable")
    rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    v = village[order]
    grid[(v // columns) * block + rank // side, (v % columns) * block + rank % side] = codes[order]
    return grid


def map_png(grid: np.ndarray) -> bytes:
    scale = max(1, MAP_PIXELS // max(grid.shape))
    pixels = PALETTE[np.kron(grid, np.ones((scale, scale), dtype=np.int8))]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png")
    return buffer.getvalue()


def statuses(model) -> np.ndarray:
    pop = model.population
    return status_codes(pop.pensioner, pop.choice, model.policy.lowest_grade)


def village_blocks(village: np.ndarray, villages: int) -> list[dict]:
    """Each village's block on the map (cells: x, x2 from the left, y, y2 from the top) and its residents."""
    counts = np.bincount(village, minlength=villages)
    side, block, columns, _ = map_layout(village, villages)
    return [
        {
            "village": v,
            "residents": int(counts[v]),
            "x": (v % columns) * block,
            "x2": (v % columns) * block + side,
            "y": (v // columns) * block,
            "y2": (v // columns) * block + side,
        }
        for v in range(villages)
    ]


def map_spec(png: bytes, village: np.ndarray, villages: int, selected: int | None = None) -> dict:
    """The map as Vega-Lite: the image, under one clickable block per village (the selected one outlined)."""
    layout = map_layout(village, villages)
    cells = (layout.columns * layout.block, layout.rows * layout.block)
    height = round(MAP_WIDTH * cells[1] / cells[0])
    x = {"field": "x", "type": "quantitative", "scale": {"domain": [0, cells[0]], "nice": False}, "axis": None}
    y = {
        "field": "y",
        "type": "quantitative",
        "scale": {"domain": [0, cells[1]], "nice": False, "reverse": True},
        "axis": None,
    }
    blocks = [{**b, "selected": b["village"] == selected} for b in village_blocks(village, villages)]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": MAP_WIDTH,
        "height": height,
        "padding": 0,
        "view": {"stroke": None},
        "layer": [
            {
                "data": {
                    "values": [{"x": 0, "y": 0, "url": "data:image/png;base64," + base64.b64encode(png).decode()}]
                },
                "mark": {
                    "type": "image",
                    "width": MAP_WIDTH,
                    "height": height,
                    "aspect": False,
                    "align": "left",
                    "baseline": "top",
                },
                "encoding": {"x": x, "y": y, "url": {"field": "url", "type": "nominal"}},
            },
            {
                "data": {"values": blocks},
                "mark": {"type": "rect", "fill": "#000", "fillOpacity": 0, "stroke": "#000", "cursor": "pointer"},
                "encoding": {
                    "x": x,
                    "x2": {"field": "x2"},
                    "y": y,
                    "y2": {"field": "y2"},
                    "strokeWidth": {"condition": {"test": "datum.selected", "value": 2}, "value": 0},
                    "tooltip": [
                        {"field": "village", "type": "quantitative", "title": "village"},
                        {"field": "residents", "type": "quantitative", "title": "residents shown"},
                    ],
                },
            },
        ],
    }


_selections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def selection(model) -> solara.Reactive:
    """The resident a page explains (an id, or None), one per model: Reset starts with nobody."""
    if model not in _selections:
        _selections[model] = solara.reactive(None)
    return _selections[model]


def choosers(model) -> np.ndarray:
    """Who chose a grade in the year the map shows (before any step: who is to choose in it)."""
    pop, policy = model.population, model.policy
    if model.indicators:
        return (pop.choice >= 0) & ~pop.gov_paid
    return eligible_to_contribute(pop, policy) & ~np.isin(pop.group, policy.government_paid_groups)


def pick_resident(model, village: int, after: int | None = None) -> int | None:
    """A resident of the village who chose in the year shown: the first by id after ``after``
    (around to the first again), so that clicking one village again goes through its residents."""
    pop = model.population
    ids = pop.id[(pop.village == village) & choosers(model)]
    if not ids.size:
        return None
    later = ids[ids > after] if after is not None else ids
    return int(later[0] if later.size else ids[0])


def clicked(model, datum: dict | None, current: int | None) -> int | None:
    """The resident to explain after a click on the map (the datum of the village block clicked)."""
    if not datum or "village" not in datum:
        return current
    village = int(datum["village"])
    pop = model.population
    row = int(pop.rows(np.array([current]))[0]) if current is not None else -1
    same_village = row >= 0 and int(pop.village[row]) == village
    return pick_resident(model, village, current if same_village else None)


@solara.component
def CountyMap(model):
    update_counter.get()  # redrawn after every step
    codes = statuses(model)
    selected = selection(model)
    villages = model.county.villages
    png = solara.use_memo(lambda: map_png(county_grid(model.population.village, codes, villages)), [model, model.year])
    rows = model.population.rows(np.array([selected.value])) if selected.value is not None else [-1]
    village = int(model.population.village[rows[0]]) if rows[0] >= 0 else None
    spec = solara.use_memo(
        lambda: map_spec(png, model.population.village, villages, village), [model, model.year, village]
    )
    shares = np.bincount(codes, minlength=len(STATUSES)) / max(codes.size, 1)
    with solara.Column(gap="4px") as main:
        solara.Text(
            f"The county in {shown_year(model)}: {codes.size:,} residents in "
            f"{villages} villages, one cell each; click a village to see why one of its residents pays "
            "what they pay"
        )
        solara.HTML(unsafe_innerHTML=legend(shares), style="display:flex;flex-wrap:wrap;gap:2px 12px;font-size:12px")
        with solara.Div(classes=["county-map"]):
            solara.widgets.VegaLite.element(
                spec=spec,
                listen_to_click=True,
                on_click=lambda datum: selected.set(clicked(model, datum, selected.value)),
            )
        solara.Text(levers_in_force(model.levers), style="font-size:12px;color:#555")
    return main


def legend(shares: np.ndarray) -> str:
    return "".join(
        f'<span><span style="display:inline-block;width:11px;height:11px;background:{colour};'
        f'margin-right:4px"></span>{status} {share:.0%}</span>'
        for colour, status, share in zip(STATUS_COLOURS, STATUSES, shares)
    )


def levers_in_force(levers) -> str:
    subsidy = (
        f"{levers.subsidy_schedule} subsidy schedule"
        if levers.subsidy_schedule != "as in scenario"
        else "the scenario's subsidy schedule"
    )
    return (
        f"From {levers.reform_year}: publicity {levers.publicity:.2f}, service {levers.service_quality:.2f}, "
        f"{subsidy} ({levers.subsidy_level} yuan on the lowest grade), minimum grade {levers.minimum_grade}, "
        f"basic pension {levers.basic_pension} yuan/month (+{levers.basic_pension_growth:.1%}/year), "
        f"interest {levers.interest_rate:.2%}, pension age {levers.pension_age}, "
        f"financial education {levers.financial_education:.0%} a year"
    )


def shown_year(model) -> int:
    """The year the map shows: the last simulated one, or the start before any step."""
    return model.year - 1 if model.indicators else model.year


def timeseries(model) -> pd.DataFrame:
    return model.datacollector.get_model_vars_dataframe()


def records(frame: pd.DataFrame, labels: dict[str, str], scale: float = 1.0) -> list[dict]:
    """Rows of (year, series, value) for the named columns, relabelled and divided by ``scale``."""
    if frame.empty:
        return []
    return [
        {"year": int(year), "series": label, "value": float(value) / scale}
        for column, label in labels.items()
        for year, value in zip(frame["year"], frame[column])
    ]


def chart(
    model,
    source: str,
    title: str,
    y: str,
    mark: str = "line",
    fmt: str = "",
    width: int | str = "container",
    ordered: list[str] | None = None,
) -> alt.Chart:
    """A chart of the (year, series, value) rows of the named data source, over the scenario's years;
    ``ordered`` series (e.g. grades) are stacked and coloured in that order, low values dark."""
    years = alt.Scale(domain=[model.spec.start_year, model.spec.end_year])
    base = alt.Chart(alt.NamedData(source), title=title).properties(width=width, height=CHART_HEIGHT)
    marked = base.mark_area() if mark == "area" else base.mark_line(point=True)
    legend = alt.Legend(orient="bottom", columns=1 if width == PAIR_WIDTH else 2, labelLimit=260)
    return marked.encode(
        x=alt.X("year:Q", scale=years, axis=alt.Axis(format="d"), title=None),
        y=alt.Y("value:Q", title=y, stack=mark == "area" or None, axis=alt.Axis(format=fmt) if fmt else alt.Axis()),
        color=alt.Color(
            "series:N",
            title=None,
            legend=legend,
            sort=ordered,
            scale=alt.Scale(domain=ordered, scheme="viridis") if ordered else alt.Undefined,
        ),
        tooltip=["year:Q", "series:N", alt.Tooltip("value:Q", format=fmt or ",.1f")],
    )


def _show(model, layout, **data: list[dict]):
    """The charts ``layout(model)`` makes (built once per model: Altair is slow to build them)
    filled with this year's rows."""

    def build():
        charts = layout(model)
        both = charts[0] if len(charts) == 1 else alt.hconcat(*charts).resolve_scale(color="independent")
        return both.to_dict(validate=False)

    spec = solara.use_memo(build, [model])
    if not any(data.values()):
        return solara.Text(f"{spec.get('title') or spec['hconcat'][0]['title']}: press Step or Play")
    return solara.widgets.VegaLite.element(spec={**spec, "datasets": data})


@solara.component
def Enrolment(model):
    update_counter.get()  # redrawn after every step
    return _show(
        model,
        lambda m: [chart(m, "enrolment", "Enrolment", "% of the eligible / of payers", fmt=".0%")],
        enrolment=records(timeseries(model), plots.ENROLMENT),
    )


@solara.component
def Grades(model):
    update_counter.get()  # redrawn after every step
    ts = timeseries(model)
    shares = plots.grade_shares(ts).assign(year=ts.year) if len(ts) else pd.DataFrame()
    labels = {grade: grade_label(grade) for grade in shares.columns if grade != "year"}
    return _show(
        model,
        lambda m: [
            chart(
                m,
                "grades",
                "Grades chosen (share of payers)",
                "% of payers",
                "area",
                ".0%",
                ordered=[grade_label(g) for g in m.all_grades],
            )
        ],
        grades=records(shares, labels),
    )


def grade_label(grade) -> str:
    return f"{int(grade)} yuan"


@solara.component
def Pensions(model):
    update_counter.get()  # redrawn after every step
    ts = timeseries(model)
    return _show(
        model,
        lambda m: [
            chart(m, "pension", "Mean pension (yuan/month)", "yuan/month", "area", width=PAIR_WIDTH),
            chart(m, "adequacy", "Adequacy", "%", fmt=".0%", width=PAIR_WIDTH),
        ],
        pension=records(ts, plots.PENSION),
        adequacy=records(ts, plots.ADEQUACY),
    )


@solara.component
def Fund(model):
    update_counter.get()  # redrawn after every step
    ts = timeseries(model)
    return _show(
        model,
        lambda m: [
            chart(m, "fund", "Fund (million yuan)", "million yuan", width=PAIR_WIDTH),
            chart(m, "public", "Public spending (million yuan/year)", "million yuan/year", "area", width=PAIR_WIDTH),
        ],
        fund=records(ts, plots.FUND, plots.MILLION),
        public=records(ts, plots.public_items(ts) if len(ts) else {}, plots.MILLION),
    )


@solara.component
def Sustainability(model):
    update_counter.get()  # redrawn after every step
    ts = timeseries(model)
    return _show(
        model,
        lambda m: [
            chart(m, "funding", "Funding ratio", "%", fmt=".0%", width=PAIR_WIDTH),
            chart(m, "cost", "Public cost (share)", "%", fmt=".2%", width=PAIR_WIDTH),
        ],
        funding=records(ts, plots.FUNDING),
        cost=records(ts, plots.PUBLIC_COST),
    )


# --- why a resident pays what they pay ---------------------------------------------------------------------


def alternative_label(grade: int) -> str:
    return "not paying" if grade == 0 else str(grade)


def explanation_records(explained: dict) -> tuple[list[dict], list[dict]]:
    """From an explanation (abm/sim/diagnostics.py explain): one row per alternative and mechanism (its part
    of the utility; rank: the mechanism's place in abm.sim.choice.MECHANISMS), and one per alternative
    (probability, utility, the top of its positive parts)."""
    parts = [
        {"alternative": alternative_label(a["grade"]), "mechanism": name, "rank": rank, "utility": value}
        for a in explained["alternatives"]
        for rank, (name, value) in enumerate(a["mechanisms"].items())
    ]
    totals = [
        {
            "alternative": alternative_label(a["grade"]),
            "probability": a["probability"],
            "utility": a["utility"],
            "top": sum(max(v, 0.0) for v in a["mechanisms"].values()),
        }
        for a in explained["alternatives"]
    ]
    return parts, totals


def explanation_title(explained: dict, paid: int | None, stepped: bool) -> str:
    """What the chart answers, e.g. "Resident 1234 (age 47, village 12), 2026: why they pay 100"."""
    who = explained["resident"]
    head = f"Resident {who['id']} (age {who['age']}, village {who['village']}), {explained['year']}"
    if not stepped:
        return f"{head}: the choice to come"
    if paid is None:
        return f"{head}: their choice (died or left since)"
    return f"{head}: why they pay {paid}" if paid > 0 else f"{head}: why they do not pay"


def explanation_spec(explained: dict) -> dict:
    """Vega-Lite: per alternative, the utility split into its mechanisms as stacked bars (negative
    parts below zero), the net utility as a tick and the probability written above."""
    parts, totals = explanation_records(explained)
    order = [alternative_label(a["grade"]) for a in explained["alternatives"]]
    x = {
        "field": "alternative",
        "type": "ordinal",
        "sort": order,
        "title": "grade (yuan/year)",
        "axis": {"labelAngle": -45},
    }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": "container",
        "height": CHART_HEIGHT,
        "layer": [
            {
                "data": {"values": parts},
                "mark": "bar",
                "encoding": {
                    "x": x,
                    "y": {"field": "utility", "type": "quantitative", "aggregate": "sum", "title": "utility"},
                    "color": {
                        "field": "mechanism",
                        "type": "nominal",
                        "title": None,
                        "scale": {"domain": list(MECHANISMS), "scheme": "tableau10"},
                        "legend": {"orient": "right"},
                    },
                    "order": {"field": "rank", "type": "quantitative"},
                    "tooltip": [
                        {"field": "alternative", "type": "ordinal"},
                        {"field": "mechanism", "type": "nominal"},
                        {"field": "utility", "type": "quantitative", "format": ".2f"},
                    ],
                },
            },
            {
                "data": {"values": totals},
                "mark": {"type": "tick", "color": "#000", "thickness": 2},
                "encoding": {
                    "x": x,
                    "y": {"field": "utility", "type": "quantitative"},
                    "tooltip": [
                        {"field": "alternative", "type": "ordinal"},
                        {"field": "utility", "type": "quantitative", "format": ".2f", "title": "utility (sum)"},
                        {"field": "probability", "type": "quantitative", "format": ".1%"},
                    ],
                },
            },
            {
                "data": {"values": totals},
                "mark": {"type": "text", "dy": -7, "fontSize": 10},
                "encoding": {
                    "x": x,
                    "y": {"field": "top", "type": "quantitative"},
                    "text": {"field": "probability", "type": "quantitative", "format": ".0%"},
                },
            },
        ],
    }


def explained_resident(model, resident_id: int | None) -> dict | str:
    """The explanation of the resident's choice in the year the map shows, or why there is none."""
    if resident_id is None:
        return "Click a village on the map, or give a resident's id, to see why they pay what they pay."
    try:
        return model.explain_shown(resident_id)
    except LookupError as err:
        message = str(err)
        return f"{message[:1].upper()}{message[1:]}."


@solara.component
def Explanation(model):
    update_counter.get()  # redrawn after every step
    selected = selection(model)
    resident = selected.value
    stepped = bool(model.indicators)
    explained = solara.use_memo(lambda: explained_resident(model, resident), [model, model.year, resident])
    with solara.Column(gap="4px", classes=["explanation"]) as main:
        with solara.Row(style="align-items:center"):
            solara.InputInt(
                "Resident id", value=resident, optional=True, on_value=selected.set, continuous_update=False
            )
            solara.Text(
                "each alternative's utility by mechanism (dash: their sum), its probability above",
                style="font-size:12px;color:#555",
            )
        if isinstance(explained, str):
            solara.Text(explained)
        else:
            row = int(model.population.rows(np.array([resident]))[0])
            paid = int(model.population.choice[row]) if row >= 0 else None
            solara.Text(explanation_title(explained, paid, stepped), style="font-weight:bold")
            solara.widgets.VegaLite.element(spec=explanation_spec(explained))
    return main


COMPONENTS = (CountyMap, Explanation, Enrolment, Grades, Pensions, Fund, Sustainability)
