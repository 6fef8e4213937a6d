"""The one action vocabulary shared by model, engine, proofs, harness and trace files.

Every action is a frozen dataclass named `VerbNoun`; its JSON form is
`{"action": "<Name>", <fields>}`, exactly one trace line.  Parsing is strict: an unknown
action, a missing or extra field, or a field of the wrong type is a `TraceFormatError`, so a
corrupt trace is rejected before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

Site = Literal["local", "remote"]
SITES: tuple[Site, ...] = get_args(Site)


class TraceFormatError(ValueError):
    """A trace line or action that does not follow the vocabulary."""


@dataclass(frozen=True)
class HostWrite:
    """The host writes grain `grain` of the source; `data` seeds the grain's bytes."""

    grain: int
    data: int


@dataclass(frozen=True)
class CopyGrain:
    """Background copy of one grain of the frozen image towards the intermediates."""

    grain: int


@dataclass(frozen=True)
class ResyncGrain:
    """Mirror one grain marked out-of-sync while the link was down (I1 -> I2)."""

    grain: int


@dataclass(frozen=True)
class CommitPoint:
    """Commit the current consistency point at the remote site and start the next cycle."""


@dataclass(frozen=True)
class DrainTarget:
    """Background copy of one committed grain from I2 to the target."""

    grain: int


@dataclass(frozen=True)
class LinkDown:
    """The link between the sites fails."""


@dataclass(frozen=True)
class LinkUp:
    """The link between the sites comes back."""


@dataclass(frozen=True)
class CrashSite:
    """The site crashes after `after_writes` more durable writes of its own (0: now).

    Writes already issued stay durable; the action in flight when the crash hits is
    abandoned and, if it was a host write, never acknowledged.
    """

    site: Site
    after_writes: int = 0


@dataclass(frozen=True)
class Recover:
    """A crashed site restarts from what it made durable."""

    site: Site


Action = (
    HostWrite
    | CopyGrain
    | ResyncGrain
    | CommitPoint
    | DrainTarget
    | LinkDown
    | LinkUp
    | CrashSite
    | Recover
)

ACTION_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        HostWrite,
        CopyGrain,
        ResyncGrain,
        CommitPoint,
        DrainTarget,
        LinkDown,
        LinkUp,
        CrashSite,
        Recover,
    )
}


def action_name(action: Action) -> str:
    return type(action).__name__


def action_to_json(action: Action) -> dict[str, Any]:
    return {"action": action_name(action), **dataclasses.asdict(action)}


def _check_field(name: str, field: dataclasses.Field[Any], value: Any) -> None:
    if field.type in ("int", int):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TraceFormatError(
                f"{name}.{field.name} must be a non-negative integer, got {value!r}"
            )
    elif field.type in ("Site", Site) and value not in SITES:
        raise TraceFormatError(f"{name}.site must be one of {', '.join(SITES)}, got {value!r}")


def action_from_json(obj: Any) -> Action:
    if not isinstance(obj, dict):
        raise TraceFormatError(f"an action must be a JSON object, got {type(obj).__name__}")
    name = obj.get("action")
    if name not in ACTION_TYPES:
        known = ", ".join(ACTION_TYPES)
        raise TraceFormatError(f"unknown action {name!r} (known: {known})")
    cls = ACTION_TYPES[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    given = {k: v for k, v in obj.items() if k != "action"}
    extra = set(given) - set(fields)
    if extra:
        raise TraceFormatError(f"{name} has unknown field(s): {', '.join(sorted(extra))}")
    for fname, field in fields.items():
        if fname not in given:
            if field.default is dataclasses.MISSING:
                raise TraceFormatError(f"{name} is missing field {fname!r}")
            continue
        _check_field(name, field, given[fname])
    action: Action = cls(**given)
    return action


def describe(action: Action) -> str:
    """`HostWrite(grain=3, data=17)` — the form used in reports."""
    args = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(action).items())
    return f"{action_name(action)}({args})"
