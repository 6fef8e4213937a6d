"""The roles' commands at the sites of a pair, record by record in model/roles_rules.py's
order: a forced promote, the take-over of an orderly switch, a resync's two turns, and what a
promoted site does when it starts again.

Each command is a list of named steps, each one durable record (or the roll) of the model's
plan; the daemon (node/failover.py) runs them all on its engine thread, the lockstep harness
(harness/roles_world.py) may cut a plan after any step, as a power loss does.
`options` are the roles model's: the safe defaults, or a mutant the checks must catch.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from pitmirror.impl.roles import DirtyLog, RoleRecord, Roles
from pitmirror.model.roles import Options
from pitmirror.node.roles import PairRoles
from pitmirror.node.served import Served

log = logging.getLogger("pitmirror")

Step = tuple[str, Callable[[], None]]
StartReversed = Callable[[Path, str, int, set[int]], None]
"""the design's resync start (node/site.py `NodeDesign.start_reversed`)"""

SAFE = Options()

UNSEEN = frozenset({"journal", "dirty log"})
"""steps whose effect shows only once a later record of the command says so (a turn's journal is
applied when the role record confirms it; a dropped dirty log is one the record made moot): a
power loss right after one is the power loss before it, as the model's plan has no such write"""


def run(steps: list[Step]) -> None:
    for _, step in steps:
        step()


def force_promote(served: Served, book: Roles, options: Options = SAFE,
                  pair: str = "") -> list[Step]:  # fmt: skip
    """`promote --force`: the next epoch of this site's own persisted first, the copy rolled to
    the committed point, then the role (the host is served once every step is done)."""
    epoch = ("epoch", lambda: void(book.promote_epoch()))
    roll = ("roll", lambda: served.roll(pair))
    role = ("role", lambda: book.take_primary())
    steps = [epoch, roll, role] if options.epoch_before_role else [role, epoch, roll]
    return [s for s in steps if options.promote_rolls_back or s is not roll]


def restarted_primary(served: Served, dirty: DirtyLog, options: Options = SAFE,
                      pair: str = "") -> None:  # fmt: skip
    """A promoted copy starting again: rolled again (a crash may have cut the promote after its
    role record), the host served."""
    if options.promote_rolls_back:
        served.roll(pair)
    served.serve_host(dirty, pair)


def changed(served: Served, roles: PairRoles, pair: str = "") -> set[int]:
    """Every grain of `pair` where the site's volume may differ from the committed image: what
    its cycle holds (node/served.py `resync_grains`) and what the host wrote since a promote."""
    held = served.resync_grains()
    if pair:
        held = {g for g in held if served.pair_of(g) == pair}
    return held | roles.written(pair)


def take_over(served: Served, roles: PairRoles, peer_known: int, start: StartReversed,
              state_dir: Path, grains: int, copy: set[int],
              options: Options = SAFE, pair: str = "") -> list[Step]:  # fmt: skip
    """An orderly switch at the demoted primary's secondary: the next epoch above both sites',
    the roll, the journal of the local site whose first cycle copies `copy` (what is not
    synchronized yet) and what this site changed, then the role."""
    book = roles.books[pair]

    def journal() -> None:
        grains_to_copy = copy | changed(served, roles, pair)
        start(state_dir, "local", grains, grains_to_copy)
        roles.drop_dirty_log(pair)
        log.info("switch: %d grains to copy from here", len(grains_to_copy))

    epoch = ("epoch", lambda: void(book.promote_epoch(peer_known)))
    roll = ("roll", lambda: served.roll(pair))
    role = ("role", lambda: book.take_primary(acting="local"))
    steps = [epoch, roll, ("journal", journal), role]
    if not options.epoch_before_role:
        steps = [role, *steps[:-1]]
    return [s for s in steps if options.promote_rolls_back or s is not roll]


def resync_source(served: Served, roles: PairRoles, asked: set[int], start: StartReversed,
                  state_dir: Path, grains: int, options: Options = SAFE,
                  pair: str = "") -> list[Step]:  # fmt: skip
    """The resync's turn at the site that is kept: its journal becomes the local site's start,
    its first cycle copying the discarded site's grains (`asked`) and its own changes, then its
    record forgets the split and says it sends."""
    copy = set(asked)

    def journal() -> None:
        if options.resync_copies_primary_changes:
            copy.update(changed(served, roles, pair))
        start(state_dir, "local", grains, copy)
        log.info("resync: %d grains to copy from here", len(copy))

    return [("journal", journal),
            ("record", lambda: roles.books[pair].forget_split(acting="local")),
            ("dirty log", lambda: roles.drop_dirty_log(pair))]  # fmt: skip


def resync_target(roles: PairRoles, primary: RoleRecord, start: StartReversed, state_dir: Path,
                  grains: int, pair: str = "", consistent: bool = False) -> list[Step]:  # fmt: skip
    """The resync's turn at the site whose changes are discarded (or the demoted primary of a
    switch, `consistent`: it holds the primary's image already): its journal becomes the remote
    site's start (its volume point 0), then its record joins the primary's epoch as its
    secondary — not consistent, after a resync, until the primary's first point commits here
    (`note_points`): its volume still holds what the resync discards."""
    join = functools.partial(roles.books[pair].join, primary, "remote", consistent)
    return [
        ("journal", lambda: start(state_dir, "remote", grains, set())),
        ("record", join),
        ("dirty log", lambda: roles.drop_dirty_log(pair)),
    ]


def why_not_promotable(served: Served, book: Roles, pair: str = "") -> str | None:
    """Why a forced promote of `pair` here would not serve a point its primary committed."""
    if not book.record.consistent:
        return (
            "this site is being resynchronized: its volume holds what the resync discards "
            "until the primary's first point after it commits here (promote it then)"
        )
    return served.why_not_promotable(pair)


def note_points(served: Served, roles: PairRoles) -> None:
    """Each pair a resync made inconsistent here, consistent again once a point its primary
    committed is here (after each engine call that may commit one, and at start)."""
    for pair, book in roles.books.items():
        if not book.record.consistent and served.holds_a_point(pair):
            book.mark_consistent()


def void(_: object) -> None:
    """A step's result is its record, not its value."""
