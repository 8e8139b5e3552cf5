"""County data: the schema of a county file's values, with their ranges, shared by the county files and
a scenario's ``population.county_overrides``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from abm.infra.errors import CrossFieldError, UserError, validation_message
from abm.inputs.datafiles import DATA_DIR, depth_and_line, find, merge, read_yaml_node, strip_metadata

if TYPE_CHECKING:
    from abm.inputs.scenario import Scenario

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Year = Annotated[int, Field(ge=1900, le=2200)]
SUM_TOLERANCE = 1e-9  # shares drawn from must add up to 1 this closely (numpy's own limit is 1.5e-8)
AGE_BAND = re.compile(r"^(\d+)-(\d+)$")


def _sums_to_one[T](values: T) -> T:
    shares = values.values() if isinstance(values, dict) else values.model_dump().values()
    if not shares:
        raise ValueError("needs at least one share")
    if abs(sum(shares) - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"shares must add up to 1, got {sum(shares):.6g}")
    return values


def _age_bands(bands: dict[str, float]) -> dict[str, float]:
    for band in bands:
        match = AGE_BAND.match(band)
        if not match or not int(match[1]) <= int(match[2]) <= 120:
            raise ValueError(f"age band {band!r} must be 'first-last' with ages 0 to 120, first <= last")
    if not sum(bands.values()) > 0:
        raise ValueError("the shares of the age bands must not all be 0")
    return bands


def _first_last(ages: tuple[int, int]) -> tuple[int, int]:
    if ages[0] > ages[1]:
        raise ValueError(f"[first, last] age, first <= last, got {list(ages)}")
    return ages


def _ascending(values: dict) -> dict:
    if not values:
        raise ValueError("needs at least one dated value, e.g. {2011: ...}")
    if list(values) != sorted(values):
        raise ValueError(f"years must be in increasing order, got {list(values)}")
    return values


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Education[T](Strict):
    primary_or_less: T
    junior_secondary: T
    senior_secondary_or_more: T


class ByAge60(Strict):
    under_60: Share
    from_60: Share


class Children(Strict):
    under_40: Annotated[float, Field(ge=0.0, le=20.0)]
    from_40: Annotated[float, Field(ge=0.0, le=20.0)]


class Reliance(Strict):
    with_children: Share
    without_children: Share


class Beta(Strict):
    mean: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(description="mean, strictly between 0 and 1")
    concentration: Annotated[float, Field(gt=0.0, le=10_000.0)] = Field(description="a + b of the Beta distribution")


class County(Strict):
    """A county's values, as in abm/data/counties/*.yaml (units there, with the sources)."""

    name: str
    population: Annotated[int, Field(ge=1, le=50_000_000)] = Field(
        description="persons (at most 50 million, a province, simulated one to one with population.residents: null)"
    )
    age_bands: Annotated[dict[str, Share], AfterValidator(_age_bands)] = Field(
        description="share of the whole population in each band 'first-last' (normalised)"
    )
    male_share: Share
    birth_rate: Annotated[float, Field(ge=0.0, le=0.1)] = Field(description="births per person per year")
    household_size: Annotated[float, Field(ge=1.0, le=20.0)] = Field(description="persons per household")
    villages: Annotated[int, Field(ge=1, le=100_000)]
    employee_scheme_share: Share
    mortality_level: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        description="multiplier of the life table's one-year death probabilities"
    )
    out_migration_rate: Share = Field(description="share of residents aged 16-45 leaving per year")
    return_migration_rate: Share = Field(description="share of the out-migrants still away returning per year")
    in_migration_rate: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        description="persons moving in per year, per person of the population"
    )
    in_migration_ages: Annotated[
        tuple[Annotated[int, Field(ge=16, le=100)], Annotated[int, Field(ge=16, le=100)]], AfterValidator(_first_last)
    ] = Field(description="first and last age of those moving in, years")
    rural_income: Annotated[
        dict[Year, Annotated[float, Field(gt=0.0, le=10_000_000.0)]], AfterValidator(_ascending)
    ] = Field(description="yuan per person per year, by year")
    income_dispersion: Annotated[float, Field(ge=0.0, le=3.0)] = Field(description="sd of log income")
    income_shock: Annotated[float, Field(ge=0.0, le=2.0)] = Field(description="sd of the yearly log income shock")
    education_shares: Annotated[Education[Share], AfterValidator(_sums_to_one)]
    education_income_factor: Education[Annotated[float, Field(gt=0.0, le=100.0)]]
    good_health_share: ByAge60
    children: Children
    reliance_on_children: Reliance
    schooling: Annotated[dict[Annotated[int, Field(ge=16, le=30)], Share], AfterValidator(_sums_to_one)] = Field(
        description="share of each cohort leaving school at each age 16-30; adds up to 1"
    )
    disabled_share: Share
    poor_share: Share
    awareness: Beta
    trust: Beta
    financial_literacy: Share = Field(description="share of residents 16+ who understand compound interest")
    gdp: Annotated[dict[Year, Annotated[float, Field(gt=0.0, le=1e15)]], AfterValidator(_ascending)] = Field(
        description="gross domestic product of the county, yuan per year, by year (moved with mean rural income "
        "outside the years given)"
    )
    budget_revenue: Annotated[dict[Year, Annotated[float, Field(gt=0.0, le=1e15)]], AfterValidator(_ascending)] = Field(
        description="general public budget revenue collected in the county, yuan per year, by year (moved with "
        "mean rural income outside the years given)"
    )

    @model_validator(mode="after")
    def _groups(self) -> County:
        if self.disabled_share + self.poor_share > 1.0:
            raise CrossFieldError("disabled_share + poor_share must not exceed 1", "disabled_share", "poor_share")
        return self


class OverrideError(UserError):
    """A bad value in a scenario's county overrides, at ``loc`` below ``population.county_overrides``."""

    def __init__(self, message: str, loc: tuple):
        super().__init__(message, field=".".join(map(str, ("population", "county_overrides", *loc))))
        self.loc = loc


def county_path(ref: str, relative_to: Path | None) -> Path:
    """The county file a scenario names: a packaged name or a path (relative to ``relative_to``,
    the scenario's folder)."""
    return find(ref, DATA_DIR / "counties", relative_to, "population.county")


def load_county_values(ref: str, relative_to: Path | None, overrides: dict[str, Any]) -> County:
    """The county's values (without units and sources) with ``overrides`` merged in, as a :class:`County`.

    Args:
        ref: packaged county name or path (relative to ``relative_to``, the scenario's folder).
        overrides: values replacing the file's, same names and units; mappings merge key by key.

    Raises:
        UserError: a problem of the county file, naming its line; :class:`OverrideError` for one
            of the overrides.
    """
    path = county_path(ref, relative_to)
    raw, node = read_yaml_node(path)
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of county values (name, population, age_bands, ...)", file=path)
    values = strip_metadata(raw)
    _validate(values, path, node)
    merged = dict(values)
    for name, value in overrides.items():
        if name not in County.model_fields or name == "name":
            raise OverrideError(f"unknown county value; allowed: {', '.join(_allowed())}", (name,))
        merged[name] = (
            merge(merged[name], value) if isinstance(merged.get(name), dict) and isinstance(value, dict) else value
        )
    try:
        return County.model_validate(merged)
    except ValidationError as err:
        loc, message = _first(err, prefer=overrides)
        culprit = next((loc[:i] for i in range(len(loc), 0, -1) if _holds(overrides, loc[:i])), None)
        raise OverrideError(message, culprit or (next(iter(overrides)),)) from None


def _validate(values: dict, path: Path, node) -> None:
    try:
        County.model_validate(values)
    except ValidationError as err:
        loc, message = _first(err)
        line = (
            max(
                (depth_and_line(node, (loc[0], key, *loc[1:])) for key in ("value", "values")),
                key=lambda found: found[0],
            )[1]
            if loc
            else None
        )
        raise UserError(message, file=path, field=".".join(map(str, loc)) or None, line=line) from None


def _first(err: ValidationError, prefer: dict | None = None) -> tuple[tuple, str]:
    """The first error's location and message (with the value given). A check across values is
    located at the value it names first, or at the first of them found in ``prefer``."""
    first = err.errors()[0]
    loc = tuple(part for part in first["loc"] if part != "[key]")
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, CrossFieldError):
        named = [(*loc, *field.split(".")) for field in cause.fields]
        loc = next((f for f in named if prefer and _holds(prefer, f)), named[0])
    return loc, validation_message(first, lambda: _allowed(loc[:-1]), missing="required value is missing")


def _allowed(loc: tuple = ()) -> list[str]:
    model: type[BaseModel] = County
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "name"]


def _holds(data: Any, loc: tuple) -> bool:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def load_county(scenario: Scenario) -> County:
    """The scenario's county (values only, a :class:`County`), with the scenario's overrides."""
    try:
        return load_county_values(scenario.population.county, scenario.source_dir, scenario.population.county_overrides)
    except OverrideError as err:
        raise UserError(err.message, file=scenario.source_file, field=err.field) from None
