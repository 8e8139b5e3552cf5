"""What the page shows: the county map and the run's charts, redrawn after every step.

Each component is a function of the model (SolaraViz redraws it when the model steps). The
map is a small image made straight from the columns; the charts are Vega-Lite specifications
the browser draws, so a redraw costs the server milliseconds.
"""

from __future__ import annotations

import io
import math

import altair as alt
import numpy as np
import pandas as pd
import solara
from matplotlib.colors import to_rgb
from PIL import Image

from abm import plots
from abm.agents import STATUSES, status_codes

# Colours of STATUSES, then of an empty cell (the grid is not full).
STATUS_COLOURS = ("#c8c8c8", "#d7301f", "#fdae61", "#1a9850", "#4575b4")
EMPTY = "#ffffff"
PALETTE = (np.array([to_rgb(c) for c in (*STATUS_COLOURS, EMPTY)]) * 255).astype(np.uint8)
MAP_PIXELS = 480          # the map image's longer side
MAP_ASPECT = 1.8          # villages per row / per column, so that the map fits a wide card
CHART_HEIGHT = 210        # pixels
PAIR_WIDTH = 190          # pixels, each of two charts side by side


def county_grid(village: np.ndarray, codes: np.ndarray, villages: int) -> np.ndarray:
    """Villages as square blocks on a grid, each resident a cell holding its status code
    (len(STATUSES) where there is nobody). Residents sit in their village in id order."""
    counts = np.bincount(village, minlength=villages)
    side = math.ceil(math.sqrt(max(int(counts.max(initial=1)), 1)))   # cells per village block side
    columns = math.ceil(math.sqrt(villages * MAP_ASPECT))
    rows = math.ceil(villages / columns)
    block = side + 1                                                   # one blank cell between villages
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


def CountyMap(model):
    codes = statuses(model)
    png = solara.use_memo(lambda: map_png(county_grid(model.population.village, codes, model.county["villages"])),
                          [model, model.year])
    shares = np.bincount(codes, minlength=len(STATUSES)) / max(codes.size, 1)
    with solara.Column(gap="4px") as main:
        solara.Text(f"The county in {shown_year(model)}: {codes.size:,} residents in "
                    f"{model.county['villages']} villages, one cell each")
        solara.HTML(unsafe_innerHTML=legend(shares), style="display:flex;flex-wrap:wrap;gap:2px 12px;font-size:12px")
        solara.Image(png, format="png", width="100%")
        solara.Text(levers_in_force(model.levers), style="font-size:12px;color:#555")
    return main


def legend(shares: np.ndarray) -> str:
    return "".join(f'<span><span style="display:inline-block;width:11px;height:11px;background:{colour};'
                   f'margin-right:4px"></span>{status} {share:.0%}</span>'
                   for colour, status, share in zip(STATUS_COLOURS, STATUSES, shares))


def levers_in_force(levers) -> str:
    subsidy = (f"{levers.subsidy_schedule} subsidy schedule" if levers.subsidy_schedule != "as in scenario"
               else "the scenario's subsidy schedule")
    return (f"From {levers.reform_year}: publicity {levers.publicity:.2f}, service {levers.service_quality:.2f}, "
            f"{subsidy} ({levers.subsidy_level} yuan on the lowest grade), minimum grade {levers.minimum_grade}, "
            f"basic pension {levers.basic_pension} yuan/month (+{levers.basic_pension_growth:.1%}/year), "
            f"interest {levers.interest_rate:.2%}, pension age {levers.pension_age}, "
            f"financial education {levers.financial_education:.0%} a year")


def shown_year(model) -> int:
    """The year the map shows: the last simulated one, or the start before any step."""
    return model.year - 1 if model.indicators else model.year


def timeseries(model) -> pd.DataFrame:
    return model.datacollector.get_model_vars_dataframe()


def records(frame: pd.DataFrame, labels: dict[str, str], scale: float = 1.0) -> list[dict]:
    """Rows of (year, series, value) for the named columns, relabelled and divided by ``scale``."""
    if frame.empty:
        return []
    return [{"year": int(year), "series": label, "value": float(value) / scale}
            for column, label in labels.items() for year, value in zip(frame["year"], frame[column])]


def chart(model, source: str, title: str, y: str, mark: str = "line", fmt: str = "",
          width: int | str = "container", ordered: list[str] | None = None) -> alt.Chart:
    """A chart of the (year, series, value) rows of the named data source, over the scenario's years;
    ``ordered`` series (e.g. grades) are stacked and coloured in that order, low values dark."""
    years = alt.Scale(domain=[model.spec.start_year, model.spec.end_year])
    base = alt.Chart(alt.NamedData(source), title=title).properties(width=width, height=CHART_HEIGHT)
    marked = base.mark_area() if mark == "area" else base.mark_line(point=True)
    legend = alt.Legend(orient="bottom", columns=1 if width == PAIR_WIDTH else 2, labelLimit=260)
    return marked.encode(
        x=alt.X("year:Q", scale=years, axis=alt.Axis(format="d"), title=None),
        y=alt.Y("value:Q", title=y, stack=mark == "area" or None, axis=alt.Axis(format=fmt) if fmt else alt.Axis()),
        color=alt.Color("series:N", title=None, legend=legend, sort=ordered,
                        scale=alt.Scale(domain=ordered, scheme="viridis") if ordered else alt.Undefined),
        tooltip=["year:Q", "series:N", alt.Tooltip("value:Q", format=fmt or ",.1f")])


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


def Enrolment(model):
    return _show(model, lambda m: [chart(m, "enrolment", "Enrolment", "share", fmt=".0%")],
                 enrolment=records(timeseries(model), plots.ENROLMENT))


def Grades(model):
    ts = timeseries(model)
    shares = plots.grade_shares(ts).assign(year=ts.year) if len(ts) else pd.DataFrame()
    labels = {grade: grade_label(grade) for grade in shares.columns if grade != "year"}
    return _show(model, lambda m: [chart(m, "grades", "Grades chosen (share of payers)", "share", "area", ".0%",
                                         ordered=[grade_label(g) for g in m.all_grades])],
                 grades=records(shares, labels))


def grade_label(grade) -> str:
    return f"{int(grade)} yuan"


def Pensions(model):
    ts = timeseries(model)
    return _show(model, lambda m: [chart(m, "pension", "Mean pension (yuan/month)", "yuan/month", "area",
                                         width=PAIR_WIDTH),
                                   chart(m, "adequacy", "Adequacy", "ratio", fmt=".0%", width=PAIR_WIDTH)],
                 pension=records(ts, plots.PENSION), adequacy=records(ts, plots.ADEQUACY))


def Fund(model):
    ts = timeseries(model)
    return _show(model, lambda m: [chart(m, "fund", "Fund (million yuan)", "million yuan", width=PAIR_WIDTH),
                                   chart(m, "public", "Public spending (million yuan/year)", "million yuan/year",
                                         "area", width=PAIR_WIDTH)],
                 fund=records(ts, plots.FUND, plots.MILLION),
                 public=records(ts, plots.public_items(ts) if len(ts) else {}, plots.MILLION))


COMPONENTS = (CountyMap, Enrolment, Grades, Pensions, Fund)
