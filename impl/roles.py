"""A site's role record: its epoch, the epoch it came from, the highest it has known, its role
and whether it met a split brain — the engine's side of model/roles_rules.py, for both designs.

The record is one small JSON file in the site's state folder, replaced durably (written aside,
synced, renamed, the folder synced): a crash leaves the old record or the new one, never a mix,
as the model's role record is one journal record.  Each method is one record of the model's
plans, in the model's order; the site's data (its volumes and maps) is the design's engine's.
The lockstep test (tests/test_roles_engine.py) runs these methods against the model's rules.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.impl.journal import replace_durably

PRIMARY, SECONDARY, OUTDATED = "primary", "secondary", "outdated"
ROLES = (SECONDARY, PRIMARY, OUTDATED)
"""in the model's numbering (model/roles_rules.py: SECONDARY 0, PRIMARY 1, OUTDATED 2)"""
FIRST_EPOCH = 1
RECORD = "roles.json"


class RolesError(Exception):
    """The role record is damaged or refuses a command: the reason in words."""


@dataclass(frozen=True)
class RoleRecord:
    epoch: int
    parent: int
    known: int
    role: str
    split: bool
    acting: str = ""
    """the design's site this one acts as since a resync reversed the pair ("" as configured):
    design A's remote host acts as the local site once it mirrors the other way"""
    consistent: bool = True
    """the site's copy is a point its primary committed: False from a resync's join (its
    volume still holds what the resync discards) until the first point after it commits"""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(raw: Any, where: str) -> RoleRecord:
        try:
            record = RoleRecord(int(raw["epoch"]), int(raw["parent"]), int(raw["known"]),
                                str(raw["role"]), bool(raw["split"]),
                                str(raw.get("acting", "")),
                                bool(raw.get("consistent", True)))  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise RolesError(f"{where}: not a role record ({err})") from None
        if record.role not in ROLES or not 0 <= record.parent < record.epoch <= record.known:
            raise RolesError(f"{where}: not a role record: {raw}")
        return record


def next_epoch(first: bool, known: int) -> int:
    """The smallest epoch above `known` that the site makes: odd epochs are made by the pair's
    first primary, even ones by its first secondary."""
    want = 1 if first else 0
    return known + 1 + (known + 1 - want) % 2


def acting_of(state_dir: Path, name: str = RECORD) -> str:
    """The site the record says this one acts as ("" as configured, or no record yet): read
    before the site is built, to build the right one."""
    path = state_dir / name
    if not path.exists():
        return ""
    try:
        return RoleRecord.from_json(json.loads(path.read_text()), str(path)).acting
    except ValueError as err:
        raise RolesError(f"{path}: damaged ({err})") from None


class Roles:
    """The role record of one site of a pair, on disk.  `first`: this site is the pair's first
    primary (design A's local site, design B's home of the group)."""

    def __init__(self, state_dir: Path, first: bool, name: str = RECORD) -> None:
        self.path, self.first = state_dir / name, first
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text())
            except ValueError as err:
                raise RolesError(f"{self.path}: damaged ({err})") from None
            self.record = RoleRecord.from_json(raw, str(self.path))
        else:
            role = PRIMARY if first else SECONDARY
            self.record = RoleRecord(FIRST_EPOCH, 0, FIRST_EPOCH, role, False)
            self._write(self.record)

    def _write(self, record: RoleRecord) -> None:
        replace_durably(self.path, json.dumps(record.to_json()).encode())
        self.record = record

    def _change(self, **changes: Any) -> None:
        self._write(dataclasses.replace(self.record, **changes))

    # ---- the record's words ------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return self.record.role == PRIMARY

    def refusal(self) -> str | None:
        """Why the site refuses host writes, or None."""
        if self.record.role == PRIMARY:
            return None
        if self.record.role == OUTDATED:
            return (f"this site is outdated (epoch {self.record.epoch}; it has known "
                    f"{self.record.known}): it refuses host writes until "
                    "`pitmirror resync --discard-local`")  # fmt: skip
        return f"this site is secondary in epoch {self.record.epoch}: it refuses host writes"

    def mirrors_with(self, peer: RoleRecord) -> str | None:
        """Why the site refuses to mirror with the peer, or None."""
        return why_apart(self.record, peer)

    # ---- the model's records, one method each ------------------------------------------------

    def promote_epoch(self, peer_known: int | None = None) -> int:
        """The promote's first record: the next epoch this site makes, above every epoch it has
        known (and the peer's, when an orderly promote hears it)."""
        known = self.record.known if peer_known is None else max(self.record.known, peer_known)
        epoch = next_epoch(self.first, known)
        self._change(epoch=epoch, parent=self.record.epoch, known=epoch)
        return epoch

    def take_primary(self, acting: str | None = None) -> None:
        """The promote's record after the roll: the site is primary (and the mirror's source,
        acting as the site that sends when the pair turned)."""
        self._change(role=PRIMARY, acting=self.record.acting if acting is None else acting)

    def demote(self) -> None:
        self._change(role=SECONDARY)

    def join_new_epoch(self, epoch: int, parent: int) -> None:
        """An orderly promote's last record, at the demoted peer."""
        self._change(epoch=epoch, parent=parent, known=max(self.record.known, epoch))

    def join(self, primary: RoleRecord, acting: str | None = None,
             consistent: bool = True) -> None:  # fmt: skip
        """A resync's last record: the site joins the primary's epoch as its secondary (and, the
        pair reversed, acts as the site the mirror copies to); not consistent until the first
        point after it commits when the primary still copies what this site discards."""
        self._change(epoch=primary.epoch, parent=primary.parent,
                     known=max(self.record.known, primary.epoch), role=SECONDARY, split=False,
                     acting=self.record.acting if acting is None else acting,
                     consistent=consistent)  # fmt: skip

    def mark_consistent(self) -> None:
        """The first point after a resync committed here: the copy is the primary's again."""
        self._change(consistent=True)

    def forget_split(self, acting: str | None = None) -> None:
        """A resync's record at the site that is kept (the mirror's source from now on)."""
        self._change(split=False, acting=self.record.acting if acting is None else acting)

    def meet(self, peer: RoleRecord) -> bool:
        """The peer's record, heard when the sites meet: outdated if the peer's epoch was made
        from ours or is higher, split if neither was made from the other.  Whether the record
        changed."""
        mine = self.record
        same = mine.epoch == peer.epoch
        from_mine = peer.parent == mine.epoch
        from_theirs = mine.parent == peer.epoch
        outdated = not same and (from_mine or peer.epoch > mine.epoch)
        split = not same and not from_mine and not from_theirs
        after = dataclasses.replace(mine, role=OUTDATED if outdated else mine.role,
                                    split=mine.split or split,
                                    known=max(mine.known, peer.epoch))  # fmt: skip
        if after == mine:
            return False
        self._write(after)
        return True


class DirtyLog:
    """The grains a promoted site's host wrote since its promote (the roles' `dirty`): one line
    per write appended and synced before the write goes to the volume, so a resync finds every
    grain that may differ.  A torn last line (a crash while appending) guards a write that never
    started and is cut off."""

    def __init__(self, state_dir: Path, name: str = "dirty.log") -> None:
        self.path = state_dir / name
        self.grains: set[int] = set()
        raw = self.path.read_bytes() if self.path.exists() else b""
        whole = raw[: raw.rfind(b"\n") + 1]
        for line in whole.splitlines():
            try:
                start, count = (int(n) for n in line.split())
            except ValueError:
                raise RolesError(f"{self.path}: damaged line {line[:40]!r}") from None
            self.grains.update(range(start, start + count))
        self.on_add: Callable[[], None] | None = None
        """called once the grains are durably tracked (the harness counts a command's steps)"""
        self._file = open(self.path, "ab")  # noqa: SIM115 (open for the site's lifetime)
        if len(whole) != len(raw):
            self._file.truncate(len(whole))

    def add(self, start: int, count: int) -> None:
        if not all(g in self.grains for g in range(start, start + count)):
            self._file.write(f"{start} {count}\n".encode())
            self._file.flush()
            os.fsync(self._file.fileno())
            self.grains.update(range(start, start + count))
        if self.on_add is not None:
            self.on_add()

    def close(self) -> None:
        self._file.close()


def why_apart(mine: RoleRecord, peer: RoleRecord) -> str | None:
    """Why two sites with these records refuse to mirror with each other, or None."""
    if mine.split or peer.split:
        return "split brain: neither site mirrors until an operator discards one side"
    if mine.epoch != peer.epoch:
        return f"the sites are in different epochs ({mine.epoch} here, {peer.epoch} there)"
    if OUTDATED in (mine.role, peer.role):
        return "a site is outdated"
    return None
