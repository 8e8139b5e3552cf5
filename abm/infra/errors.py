"""Errors a user can cause: reported as one clear message and exit code 2, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class UserError(Exception):
    """Bad input from a user: names the file, the field and what is allowed."""

    def __init__(self, message: str, file: str | Path | None = None, field: str | None = None, line: int | None = None):
        self.file = str(file) if file is not None else None
        self.field = field
        self.line = line
        self.message = message
        place = f"{self.file}, line {line}" if self.file and line else self.file
        where = ": ".join(p for p in (place, field) if p)
        super().__init__(f"{where}: {message}" if where else message)


class CrossFieldError(ValueError):
    """A check across fields (inside a pydantic validator) that names the fields at fault, dotted
    paths below the model that checks them, the one to change first: the error then points at its
    line, not at the model's first key."""

    def __init__(self, message: str, *fields: str):
        super().__init__(message)
        self.fields = fields


def validation_message(
    error: dict, allowed: Callable[[], list[str]], missing: str = "required field is missing"
) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a message: an unknown field
    lists ``allowed()``, a missing one says so, and the value given is quoted once.

    Args:
        error: the error's mapping (``type``, ``msg``, ``input``).
        allowed: the field names allowed where an unknown one was given.
        missing: the message for a missing field.
    """
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown field; allowed here: {', '.join(allowed())}"
    if error["type"] == "missing":
        return missing
    if "input" in error and not isinstance(error["input"], dict) and "got " not in message:
        return f"{message} (got {quoted(error['input'])})"
    return message


def quoted(value: object, keep: int = 60) -> str:
    """``repr(value)``, its middle cut out beyond ``keep`` characters (a message never grows with its input)."""
    text = repr(value)
    if len(text) <= keep:
        return text
    size = f", {len(value):,} characters" if isinstance(value, str) else ""
    return f"{text[: keep // 2]}...{text[-keep // 2 :]}{size}"
