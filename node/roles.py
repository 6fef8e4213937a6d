"""A daemon's role records, one per pair it is a site of (impl/roles.py), and what they say to
the host, to the peer and to the operator.

The peer's records arrive in its HELLO: the sites *meet* there (model/roles_rules.py `meet`),
each record updated durably before the connection goes on, and a pair whose sites may not
mirror (different epochs, an outdated site, a split brain) refuses the connection with the
reason.  The host's writes pass only at a primary.  Status words each state and the command
that resolves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pitmirror.impl.roles import OUTDATED, PRIMARY, DirtyLog, RoleRecord, Roles, RolesError


def record_name(pair: str) -> str:
    return f"roles-{pair}.json" if pair else "roles.json"


def dirty_name(pair: str) -> str:
    return f"dirty-{pair}.log" if pair else "dirty.log"


class PairRoles:
    """The site's role record of each pair (by name; design A's one pair is "")."""

    def __init__(self, state_dir: Path, pairs: dict[str, bool]) -> None:
        self.books = {pair: Roles(state_dir, first, record_name(pair))
                      for pair, first in pairs.items()}  # fmt: skip
        self.state_dir = state_dir
        self._dirty: dict[str, DirtyLog] = {}
        self.peers: dict[str, RoleRecord] = {}
        """each pair's peer record, as its last HELLO said"""

    @property
    def epoch(self) -> int:
        """The epoch frames carry: design A's pair's (design B's groups fail over alone, each in
        its own epoch: their records meet in the HELLO, frames carry 1)."""
        book = self.books.get("")
        return book.record.epoch if book is not None else 1

    def hello(self) -> dict[str, Any]:
        return {"roles": {pair: book.record.to_json() for pair, book in self.books.items()}}

    def meet(self, hello: dict[str, Any]) -> str | None:
        """The peer's records from its HELLO, each pair's met; why the sites may not mirror at
        all (every pair they share is apart), or None: a design-B group apart mirrors nothing
        while the link carries the others (`apart_pair`)."""
        theirs = hello.get("roles")
        if not isinstance(theirs, dict):
            return "the peer's HELLO carries no role records (an older pitmirror?)"
        reasons = []
        for pair, book in self.books.items():
            raw = theirs.get(pair)
            if raw is None:
                continue
            try:
                peer = RoleRecord.from_json(raw, "the peer's HELLO")
            except RolesError as err:
                return str(err)
            self.peers[pair] = peer
            book.meet(peer)
            reason = book.mirrors_with(peer)
            reasons.append(None if reason is None else f"{pair + ': ' if pair else ''}{reason}")
        if reasons and all(reasons):
            return "; ".join(r for r in reasons if r)
        return None

    def writable_pairs(self) -> list[str]:
        """The pairs this site is primary of."""
        return [pair for pair, book in self.books.items() if book.writable]

    def dirty_log(self, pair: str = "") -> DirtyLog:
        """The grains the host wrote to `pair` here since this site was promoted."""
        if pair not in self._dirty:
            self._dirty[pair] = DirtyLog(self.state_dir, dirty_name(pair))
        return self._dirty[pair]

    def written(self, pair: str = "") -> set[int]:
        """The grains the host wrote to `pair` here since this site was promoted, read from the
        dirty log whatever the site's role is now (a demoted or restarted site still differs
        there)."""
        if pair not in self._dirty and not (self.state_dir / dirty_name(pair)).exists():
            return set()
        return set(self.dirty_log(pair).grains)

    def apart_pair(self, pair: str) -> bool:
        """The pair is outdated here or in a split brain: it takes no part in mirroring."""
        book = self.books.get(pair)
        return book is not None and (book.record.role == OUTDATED or book.record.split)

    def apart(self) -> bool:
        """Every pair of this site is apart: the site does no background work at all."""
        return bool(self.books) and all(self.apart_pair(pair) for pair in self.books)

    def close(self) -> None:
        """The dirty logs' files, closed (the daemon stops)."""
        for log in self._dirty.values():
            log.close()
        self._dirty.clear()

    def drop_dirty_log(self, pair: str = "") -> None:
        """A promoted site's dirty log of `pair`, once a resync's start holds its grains."""
        log = self._dirty.pop(pair, None)
        if log is not None:
            log.close()
        (self.state_dir / dirty_name(pair)).unlink(missing_ok=True)

    def host_refusal(self, pair: str = "") -> str | None:
        book = self.books.get(pair)
        return None if book is None else book.refusal()

    def status(self) -> dict[str, Any]:
        """Each pair's record in words: its state and the command that resolves it."""
        out = {}
        for pair, book in self.books.items():
            record, peer = book.record, self.peers.get(pair)
            state, resolve = record.role, None
            if record.split:
                state = "split brain"
                resolve = "`pitmirror resync --discard-local` on the side whose changes go" + (
                    " (this one: it is outdated)" if record.role == OUTDATED else ""
                )
            elif record.role == OUTDATED:
                resolve = "`pitmirror resync --discard-local` here (its changes are discarded)"
            elif not record.consistent:
                state = "resynchronizing"
                resolve = ("none: the primary's first point after the resync commits here, then "
                           "this copy is promotable again")  # fmt: skip
            out[pair] = {
                **record.to_json(), "state": state, "resolve": resolve,
                "writable": record.role == PRIMARY,
                "peer": None if peer is None else {"role": peer.role, "epoch": peer.epoch,
                                                   "split": peer.split},
            }  # fmt: skip
        return out
