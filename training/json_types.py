"""The JSON the tool writes (metrics.json, ``--json``, the model's metadata), as a type:
what a ``to_dict`` returns, so a dict of anything does not pass for one."""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"
