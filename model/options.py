"""What every design's `Options` shares: JSON in and out, and the choices that differ from
the safe defaults (a trace header names only those)."""

from __future__ import annotations

import dataclasses
from typing import Any, Self


class DesignOptions:
    """Mixed into a frozen dataclass whose every field has a safe default."""

    def _check_flags(self, *exempt: str) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name not in exempt and not isinstance(getattr(self, f.name), bool):
                raise ValueError(
                    f"option {f.name} must be true or false, got {getattr(self, f.name)!r}"
                )

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Self:
        unknown = set(obj) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return cls(**obj)

    def non_default(self) -> dict[str, Any]:
        default = type(self)()
        return {k: v for k, v in self.to_json().items() if getattr(default, k) != v}
