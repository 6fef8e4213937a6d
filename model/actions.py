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
"""Design A's two sites."""
PEER_SITES = ("left", "right", "third")
"""Design B's sites: each can be local for some objects and remote for others."""
ALL_SITES: tuple[str, ...] = (*SITES, *PEER_SITES)


class TraceFormatError(ValueError):
    """A trace line or action that does not follow the vocabulary."""


@dataclass(frozen=True)
class HostWrite:
    """The host writes grain `grain` of the source; `data` seeds the grain's bytes.

    `fua` (force unit access, the default): the write is durable when it completes, as every
    host write was before the write cache.  Without it the write completes into the site's
    volatile cache: a read sees it, a power loss of the site may lose it, and a `HostFlush`
    makes it durable."""

    grain: int
    data: int
    fua: bool = True
    part: int = 0
    parts: int = 0
    """`parts` > 0: the host wrote only parts `part`..`part + parts - 1` of the grain's
    `GRAIN_PARTS` equal parts and the rest of the grain keeps what the host read there (the
    block door reads the grain and writes it back whole); `data` names the grain's content
    after the write either way.  0: the whole grain."""
    site: str = ""
    """The site whose host writes: "" for the design's own (design A's local site, design B's
    home of the grain's object); after a failover the promoted site's host names it."""


GRAIN_PARTS = 4
"""the parts of a grain a host write may cover alone (a write smaller than a grain)"""


def part_problem(action: HostWrite) -> str | None:
    """Why a host write's parts are not a range of the grain's parts, or None."""
    part, parts = action.part, action.parts
    if parts == 0 and part == 0:
        return None
    if not 0 <= part < part + parts <= GRAIN_PARTS:
        return (f"parts {part}..{part + parts - 1} are not parts of a grain "
                f"(0..{GRAIN_PARTS - 1}, at least one)")  # fmt: skip
    return None


def cycle_write_problem(action: HostWrite) -> str | None:
    """Why a design's cycle does not take the host write, or None: its parts are not a range
    of the grain's, or it names a site (a design's own host writes at its own site; the
    roles model, model/roles.py, routes writes after a failover)."""
    if action.site:
        return (
            f"a host write at the {action.site} site is the roles model's "
            "(the design's host writes at its own site)"
        )
    return part_problem(action)


@dataclass(frozen=True)
class HostFlush:
    """The host's flush of one volume (a block device's flush): it completes once every host
    write to it completed before it is durable (design A: the cached writes, copied on write
    where they need it, tracked, then written; design B: written to the active delta, then
    recorded).  `volume`: design B's object (its index in the topology); design A has one
    host volume, 0."""

    volume: int = 0


@dataclass(frozen=True)
class HostRead:
    """The host reads grain `grain`: it must see its newest acknowledged write (claim 12's live
    read, through the overlay in design B).  Nothing durable changes."""

    grain: int


# An extent action (`count` > 1) is the grain action over `count` consecutive grains from
# `grain`, done as the engine does it: each durable write covers the whole extent (one device
# write per volume, whole or not at all), so a crash falls between whole writes, never inside
# one.  `count` = 1 is the grain action; trace lines leave it out then.


@dataclass(frozen=True)
class CopyGrain:
    """Background copy of grains `grain`.. of the frozen image towards the intermediates."""

    grain: int
    count: int = 1


@dataclass(frozen=True)
class ResyncGrain:
    """Mirror grains `grain`.. marked out-of-sync while the link was down (I1 -> I2)."""

    grain: int
    count: int = 1


@dataclass(frozen=True)
class CommitPoint:
    """Commit the current consistency point at the remote site and start the next cycle."""


@dataclass(frozen=True)
class DrainTarget:
    """Background copy of committed grains `grain`.. from I2 to the target."""

    grain: int
    count: int = 1


@dataclass(frozen=True)
class LinkDown:
    """A link fails: design A's one link, or design B's link named `link` ("left-right")."""

    link: str = ""


@dataclass(frozen=True)
class LinkUp:
    """A link comes back."""

    link: str = ""


@dataclass(frozen=True)
class CrashSite:
    """The site crashes after `after_writes` more durable writes of its own (0: now).

    Writes already issued stay durable; the action in flight when the crash hits is
    abandoned and, if it was a host write, never acknowledged.
    """

    site: str
    after_writes: int = 0


@dataclass(frozen=True)
class Recover:
    """A crashed site restarts from what it made durable."""

    site: str


# ---- roles: failover, failback and reverse (model/roles_rules.py) ------------------------------
# `group` names design B's consistency group (design A has one pair: 0).


@dataclass(frozen=True)
class Promote:
    """The operator makes `site` primary.  Orderly: the peer is demoted, linked and
    synchronized, and joins the new epoch.  `force`: the peer is unreachable; the site rolls its
    volume to its committed point and takes host writes in an epoch of its own."""

    site: str
    force: bool = False
    group: int = 0


@dataclass(frozen=True)
class Demote:
    """The operator makes the primary `site` a secondary: it takes no more host writes, and the
    mirror drains its last point."""

    site: str
    group: int = 0


@dataclass(frozen=True)
class Resync:
    """The operator discards `site`'s own changes (it is outdated or in a split brain): the
    grains that differ from the primary's are copied from it, and the site joins the primary's
    epoch as its secondary.  Never automatic."""

    site: str
    group: int = 0


# ---- design B: freeze and auxiliary overlay ----------------------------------------------------
# A design-B grain is global: the objects of a topology are laid end to end, object by object.


@dataclass(frozen=True)
class FreezeGroup:
    """A consistency point: every member of the group is frozen at one instant."""

    group: int


@dataclass(frozen=True)
class FreezeMember:
    """Freeze one more member of a group whose freeze is in progress (mutant only)."""

    member: int


@dataclass(frozen=True)
class CopyDelta:
    """Copy grains `grain`.. of the frozen delta to the delta being received at remote `site`
    (one object's grains)."""

    site: str
    grain: int
    count: int = 1


@dataclass(frozen=True)
class MarkComplete:
    """Remote `site` durably marks the group's received delta complete: the point commits."""

    site: str
    group: int


@dataclass(frozen=True)
class MergeRemote:
    """Remote `site` merges grains `grain`.. of its complete delta into its base copy
    (redo-safe)."""

    site: str
    grain: int
    count: int = 1


@dataclass(frozen=True)
class DropRemoteDelta:
    """Remote `site` drops the group's merged delta; its base copy now is the point."""

    site: str
    group: int


@dataclass(frozen=True)
class MergeLocal:
    """Merge grains `grain`.. of the frozen local delta into the frozen base."""

    grain: int
    count: int = 1


@dataclass(frozen=True)
class DropLocalDelta:
    """Drop the group's merged local deltas (every remote has them)."""

    group: int


@dataclass(frozen=True)
class BreakMirror:
    """The mirroring-break command: no further cycles start for the group."""

    group: int


Action = (
    HostWrite
    | HostFlush
    | HostRead
    | CopyGrain
    | ResyncGrain
    | CommitPoint
    | DrainTarget
    | LinkDown
    | LinkUp
    | CrashSite
    | Recover
    | FreezeGroup
    | FreezeMember
    | CopyDelta
    | MarkComplete
    | MergeRemote
    | DropRemoteDelta
    | MergeLocal
    | DropLocalDelta
    | BreakMirror
    | Promote
    | Demote
    | Resync
)

ACTION_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        HostWrite,
        HostFlush,
        HostRead,
        CopyGrain,
        ResyncGrain,
        CommitPoint,
        DrainTarget,
        LinkDown,
        LinkUp,
        CrashSite,
        Recover,
        FreezeGroup,
        FreezeMember,
        CopyDelta,
        MarkComplete,
        MergeRemote,
        DropRemoteDelta,
        MergeLocal,
        DropLocalDelta,
        BreakMirror,
        Promote,
        Demote,
        Resync,
    )
}


def action_name(action: Action) -> str:
    return type(action).__name__


def action_to_json(action: Action) -> dict[str, Any]:
    # an empty link name is design A's only link, a count of 1 a grain action, a FUA write the
    # host write of before the cache, no parts a whole-grain write: leave them out, as traces
    # written before them do
    fields = {k: v for k, v in dataclasses.asdict(action).items()
              if not _default_left_out(k, v) and not _default_group(action, k, v)}  # fmt: skip
    return {"action": action_name(action), **fields}


LEFT_OUT = (("count", 1), ("fua", True), ("part", 0), ("parts", 0), ("force", False))


def _default_group(action: Action, key: str, value: Any) -> bool:
    """A command's group 0 (design A's one pair) is left out; design B's cycle actions name
    their group always."""
    return key == "group" and value == 0 and isinstance(action, Promote | Demote | Resync)


def _default_left_out(key: str, value: Any) -> bool:
    return (key in ("link", "site") and not value) or (key, value) in LEFT_OUT


def _check_field(name: str, field: dataclasses.Field[Any], value: Any) -> None:
    if field.type in ("bool", bool):
        if not isinstance(value, bool):
            raise TraceFormatError(f"{name}.{field.name} must be true or false, got {value!r}")
    elif field.type in ("int", int):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TraceFormatError(
                f"{name}.{field.name} must be a non-negative integer, got {value!r}"
            )
    elif field.name == "site" and value not in ALL_SITES and not (value == "" == field.default):
        raise TraceFormatError(f"{name}.site must be one of {', '.join(ALL_SITES)}, got {value!r}")
    elif field.name == "link" and not isinstance(value, str):
        raise TraceFormatError(f"{name}.link must be a string, got {value!r}")


def action_from_json(obj: Any) -> Action:
    if not isinstance(obj, dict):
        raise TraceFormatError(f"an action must be a JSON object, got {type(obj).__name__}")
    return parse_action(obj)


def parse_action(obj: dict[str, Any]) -> Action:
    """One trace line's action, or TraceFormatError; what it accepts, it writes back the same.

    raises: TraceFormatError
    post: parse_action(action_to_json(__return__)) == __return__
    post: all(action_to_json(__return__).get(k, v) == v for k, v in obj.items())
    """
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
    if isinstance(action, HostWrite) and (problem := part_problem(action)):
        raise TraceFormatError(f"{name}: {problem}")
    return action


def describe(action: Action) -> str:
    """`HostWrite(grain=3, data=17)` — the form used in reports."""
    fields = dataclasses.asdict(action).items()
    args = ", ".join(f"{k}={v}" for k, v in fields
                     if (not _default_left_out(k, v) or k == "link")
                     and not _default_group(action, k, v))  # fmt: skip
    return f"{action_name(action)}({args})"
