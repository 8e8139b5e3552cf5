"""Dated values: a parameter as {year or 'YYYY-MM': value}, the value in force at a date, and the fields that are dated.

A dated value holds from its date until the next one. A scenario's policy and economy fields are
dated this way (abm/inputs/scenario.py); which fields are dated is read from their types, so a new
dated field needs no list of its own.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, Field

from abm.inputs.datafiles import period

Year = Annotated[int, Field(ge=1900, le=2200)]


def _ascending_years[T](values: dict[int, T]) -> dict[int, T]:
    if not values:
        raise ValueError("needs at least one dated value, e.g. {2011: ...}")
    if list(values) != sorted(values):
        raise ValueError(f"years must be in increasing order, got {list(values)}")
    return values


def _month_dated[T](values: dict[int | str, T]) -> dict[int | str, T]:
    """Keys as years (from January) or 'YYYY-MM' (from that month), in time order; a value dated
    in January is keyed by its year alone."""
    if not values:
        raise ValueError("needs at least one dated value, e.g. {2011: ...}")
    normal: dict[int | str, T] = {}
    for key, value in values.items():
        year, month = period(key)
        if not 1900 <= year <= 2200 or not 1 <= month <= 12:
            raise ValueError(f"date {key!r} outside 1900-2200 or month outside 1-12")
        canonical = year if month == 1 else f"{year}-{month:02d}"
        if canonical in normal:
            raise ValueError(f"date {key!r} given twice")
        normal[canonical] = value
    keys = list(normal)
    if keys != sorted(keys, key=period):
        raise ValueError(f"dates must be in increasing order, got {keys}")
    return normal


type Dated[T] = Annotated[dict[Year, T], AfterValidator(_ascending_years)]
# monthly amounts that may change within a year: {2009: 55, 2014-07: 70} (from July 2014)
type MonthDated[T] = Annotated[dict[int | str, T], AfterValidator(_month_dated)]


def value_at[T](dated: dict[int | str, T], year: int, month: int = 12) -> T:
    """The value in force in ``year`` (at the end of it, or in ``month``): the latest dated value
    at or before it. Keys are years or 'YYYY-MM'."""
    current, found = None, False
    for start, value in dated.items():
        if period(start) > (year, month):
            break
        current, found = value, True
    if not found:
        raise KeyError(f"no value dated at or before {year}")
    return current


def monthly_values(dated: dict[int | str, float], year: int) -> list[float]:
    """The value in force in each month of ``year`` (12 values)."""
    return [value_at(dated, year, month) for month in range(1, 13)]


def last_year(dated: dict[int | str, object]) -> int:
    """The year of the latest dated value."""
    return max(period(key)[0] for key in dated)


def is_dated_type(annotation) -> bool:
    """Whether a field's type is :data:`Dated` or :data:`MonthDated` (or either, or None)."""
    if get_origin(annotation) in (Union, UnionType):
        return any(is_dated_type(arg) for arg in get_args(annotation))
    return get_origin(annotation) in (Dated, MonthDated)


def dated_fields(model: type[BaseModel]) -> list[str]:
    """The names of a model's dated fields, in the model's order."""
    return [name for name, field in model.model_fields.items() if is_dated_type(field.annotation)]
