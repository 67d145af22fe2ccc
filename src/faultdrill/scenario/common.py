"""Types shared by every section of the scenario model."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from faultdrill.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
NAME_RE = r"^[a-z][a-z0-9_-]{0,39}$"
Name = Annotated[str, Field(pattern=NAME_RE)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
