"""A file that studies a base scenario (a sweep, a search): the base or a test function, fixed overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from abm.infra.errors import CrossFieldError, UserError
from abm.inputs.datafiles import depth_and_line, shipped_file
from abm.inputs.loader import FROM_OVERRIDES, Layer, load_scenario
from abm.inputs.scenario import Frozen, Scenario


class Study(Frozen):
    """What sweep and search files share: a base scenario with fixed overrides (``set``), or a test function
    with a known answer in the model's place (``function``: each kind of file names its own); the file read.

    Subclasses say what they are (``KIND``: "sweep", "search") and what their functions are
    (``FUNCTIONS``: "a test function", "a test problem").
    """

    KIND: ClassVar[str] = "study"
    FUNCTIONS: ClassVar[str] = "a test function"

    base: str | None = Field(None, description="scenario file relative to this file, or a shipped scenario's name")
    function: str | None = None
    set: dict[str, Any] = Field({}, description="fixed overrides of the base scenario, path: value")
    source_file: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _base_or_function(self) -> Self:
        if (self.base is None) == (self.function is None):
            raise CrossFieldError(
                f"give either base (a scenario) or function ({self.FUNCTIONS})",
                "function" if self.function is not None else "base",
            )
        return self

    def base_path(self) -> Path:
        """The base scenario's file: relative to this file, or a shipped scenario's name."""
        return shipped_file(str(self.base), relative_to=self.source_file.parent if self.source_file else Path.cwd())

    def base_scenario(self, path: Path, layer: Layer | None = None) -> Scenario:
        """The base scenario with the fixed overrides. A base not found, or an override that does not fit
        it, is one :class:`UserError` naming ``path`` (this file), the field and its line in ``layer``; a
        problem of the base scenario itself names the scenario's file."""

        def line(*loc) -> int | None:
            return depth_and_line(layer.node, loc)[1] if layer is not None else None

        try:
            base = self.base_path()
        except UserError as err:
            raise UserError(
                f"base scenario {self.base!r} not found: {err.message}", file=path, field="base", line=line("base")
            ) from None
        if not base.is_file():
            raise UserError(
                f"base scenario {self.base!r} not found (a path relative to the {self.KIND} file, or a shipped "
                "scenario's name)",
                file=path,
                field="base",
                line=line("base"),
            )
        try:
            return load_scenario(base, list(self.set.items()))
        except UserError as err:
            if not err.message.endswith(FROM_OVERRIDES):
                raise  # a problem of the base scenario itself: its own file and line
            key = next((k for k in self.set if err.field and (err.field == k or err.field.startswith(f"{k}."))), None)
            raise UserError(
                f"does not fit the base scenario: {err.message.removesuffix(FROM_OVERRIDES)}",
                file=path,
                field=f"set ({err.field})",
                line=line("set", key) if key else line("set"),
            ) from None
