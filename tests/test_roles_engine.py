"""The engine's role records (impl/roles.py) in lockstep with the roles model: the same actions
applied to both, every role field compared after each, every restart reading the record back
from its file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.impl.roles import ROLES, DirtyLog, RoleRecord, Roles, RolesError
from pitmirror.model import roles
from pitmirror.model import roles_rules as rules
from pitmirror.model.actions import (
    Action,
    CrashSite,
    Demote,
    HostWrite,
    LinkUp,
    Promote,
    Recover,
    Resync,
)

CONFIG = roles.Config(grains=1, values=(1,), max_epoch=11)


class Engine:
    """Two sites' role records in their own folders; a crashed site's record is dropped and
    read back from its file when it recovers."""

    def __init__(self, root: Path) -> None:
        self.dirs = {slot: root / slot for slot in rules.SLOTS}
        for d in self.dirs.values():
            d.mkdir()
        self.books: dict[str, Roles | None] = {
            slot: Roles(d, first=slot == "x") for slot, d in self.dirs.items()
        }

    def book(self, slot: str) -> Roles:
        book = self.books[slot]
        assert book is not None, f"site {slot} is down"
        return book

    def apply(self, model: roles.State, action: Action) -> None:
        slot = model.slot(action.site) if hasattr(action, "site") and action.site else "x"
        other = rules.peer(slot)
        if isinstance(action, HostWrite):
            assert self.book(slot).writable == (model.why_disabled(action) is None)
        elif isinstance(action, Promote):
            was = self.book(slot).record.epoch
            peer_known = None if action.force else self.book(other).record.known
            epoch = self.book(slot).promote_epoch(peer_known)
            self.book(slot).take_primary()
            if not action.force:
                self.book(other).join_new_epoch(epoch, was)
        elif isinstance(action, Demote):
            self.book(slot).demote()
        elif isinstance(action, Resync):
            self.book(other).forget_split()
            self.book(slot).join(self.book(other).record)
        elif isinstance(action, CrashSite):
            self.books[slot] = None
        elif isinstance(action, Recover):
            self.books[slot] = Roles(self.dirs[slot], first=slot == "x")

    def meet_if_linked(self, model: roles.State) -> None:
        view = model.view()
        if not (view.link_up and view.x_up and view.y_up):
            return
        records = {slot: self.book(slot).record for slot in rules.SLOTS}
        for slot in rules.SLOTS:
            self.book(slot).meet(records[rules.peer(slot)])

    def compare(self, model: roles.State) -> None:
        view = model.view()
        for slot in rules.SLOTS:
            book = self.books[slot]
            if book is None:
                continue
            got = book.record
            want = (view.get(slot, "epoch"), view.get(slot, "parent"), view.get(slot, "known"),
                    ROLES[view.get(slot, "role")], view.get(slot, "split"))  # fmt: skip
            assert (got.epoch, got.parent, got.known, got.role, got.split) == want, slot


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_role_records_follow_the_model(tmp_path_factory: pytest.TempPathFactory,
                                       data: st.DataObject) -> None:  # fmt: skip
    engine = Engine(tmp_path_factory.mktemp("roles"))
    model = roles.initial_state(CONFIG)
    for _ in range(30):
        enabled = [a for a in model.enabled_actions()
                   if not (isinstance(a, CrashSite) and a.after_writes)]  # fmt: skip
        action = data.draw(st.sampled_from(enabled))
        engine.apply(model, action)
        after = model.step(action)
        if isinstance(action, LinkUp | Recover):
            engine.meet_if_linked(after)
        engine.compare(after)
        model = after


def test_a_damaged_role_record_is_one_clear_error(tmp_path: Path) -> None:
    Roles(tmp_path, first=True)
    (tmp_path / "roles.json").write_text('{"epoch": 3, "parent": 5, "known": 3, "role": "x"}')
    with pytest.raises(RolesError, match="not a role record"):
        Roles(tmp_path, first=True)
    (tmp_path / "roles.json").write_text("{")
    with pytest.raises(RolesError, match="damaged"):
        Roles(tmp_path, first=True)


def test_an_outdated_site_says_what_resolves_it(tmp_path: Path) -> None:
    book = Roles(tmp_path, first=True)
    assert book.refusal() is None
    assert not book.meet(RoleRecord(1, 0, 1, "secondary", False))  # its own secondary
    assert book.meet(RoleRecord(2, 1, 2, "primary", False))
    assert book.record.role == "outdated"
    assert "resync --discard-local" in (book.refusal() or "")
    assert Roles(tmp_path, first=True).record == book.record  # durable


def test_the_dirty_log_keeps_whole_lines_and_cuts_a_torn_one(tmp_path: Path) -> None:
    log = DirtyLog(tmp_path)
    log.add(3, 2)
    log.add(3, 1)  # already dirty: nothing appended
    log.close()
    with open(tmp_path / "dirty.log", "ab") as f:
        f.write(b"9 ")  # a crash while appending: its write never started
    again = DirtyLog(tmp_path)
    assert again.grains == {3, 4}
    again.add(7, 1)
    again.close()
    assert (tmp_path / "dirty.log").read_bytes() == b"3 2\n7 1\n"
    (tmp_path / "dirty.log").write_bytes(b"x y\n")
    with pytest.raises(RolesError, match="damaged line"):
        DirtyLog(tmp_path)
