"""Errors a user can cause: reported as one clear message and exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from a user: names the file, the field and what is allowed."""

    def __init__(self, message: str, file: str | Path | None = None, field: str | None = None,
                 line: int | None = None):
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
