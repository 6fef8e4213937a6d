"""Design A's cycle controllers: python-statemachine skeletons over the site objects.

The machines hold only the phase; volumes, maps and journals live in the site object.  Events
carry the vocabulary's names (`CopyGrain`, `CommitPoint`, `CrashSite`, ...) and do their work
in their transitions' callbacks; guards are named predicates, and `Settle` moves the phase to
whatever the maps now say, after any action.  The link's events are the shared `LinkService`.
A refused event raises `TransitionNotAllowed`; an action that raises leaves the phase unchanged.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine

from pitmirror.impl.cyclic_flashcopy.sites import LocalSite, RemoteSite


class LocalCycle(StateMachine):
    """Phases of a cycle at the local site."""

    copying = State("copying", initial=True)  # the copy map is not empty
    resyncing = State("resyncing")  # copied, but grains wait for the link
    ready = State("ready")  # I1 = I2 = P_k: the point can commit
    down = State("down")

    HostWrite = (
        copying.to.itself(internal=True, on="host_write")
        | resyncing.to.itself(internal=True, on="host_write")
        | ready.to.itself(internal=True, on="host_write")
    )
    HostRead = (
        copying.to.itself(internal=True, on="host_read")
        | resyncing.to.itself(internal=True, on="host_read")
        | ready.to.itself(internal=True, on="host_read")
    )
    CopyGrain = copying.to.itself(internal=True, on="copy_grain")
    ResyncGrain = copying.to.itself(internal=True, cond="link_up", on="resync_grain") | (
        resyncing.to.itself(internal=True, cond="link_up", on="resync_grain")
    )
    CommitPoint = ready.to(copying, cond="link_up", on="commit") | copying.to.itself(
        internal=True, cond=["link_up", "may_commit_early", "in_sync"], on="commit"
    )
    Settle = (
        copying.to(ready, cond=["copy_done", "in_sync"])
        | copying.to(resyncing, cond="copy_done")
        | copying.to.itself(internal=True)
        | resyncing.to(ready, cond="in_sync")
        | resyncing.to.itself(internal=True)
        | ready.to(copying, unless="copy_done")
        | ready.to.itself(internal=True)
        | down.to.itself(internal=True)
    )
    CrashSite = (
        copying.to(down, unless="armed")
        | resyncing.to(down, unless="armed")
        | ready.to(down, unless="armed")
        | copying.to.itself(internal=True, cond="armed", on="arm_crash")
        | resyncing.to.itself(internal=True, cond="armed", on="arm_crash")
        | ready.to.itself(internal=True, cond="armed", on="arm_crash")
    )
    Recover = down.to(copying, on="restart")

    def __init__(self, site: LocalSite, **kwargs: Any) -> None:
        self.site = site
        self.last_read: tuple[int, bytes] | None = None
        """the grain and bytes of the newest host read"""
        super().__init__(**kwargs)

    def on_enter_down(self) -> None:
        self.site.crash()

    def armed(self, after_writes: int = 0) -> bool:
        """A crash after some writes of the next action is armed, not taken now."""
        return after_writes > 0

    def arm_crash(self, after_writes: int) -> None:
        self.site.injector.arm(self.site.site, after_writes)

    def link_up(self) -> bool:
        return bool(self.site.link.up)

    def copy_done(self) -> bool:
        return not self.site.map("copy_map")

    def in_sync(self) -> bool:
        return not self.site.map("out_of_sync")

    def may_commit_early(self) -> bool:
        return not self.site.options.commit_after_drain

    def host_write(self, grain: int, data: bytes) -> None:
        self.site.host_write(grain, data)

    def host_read(self, grain: int) -> None:
        self.last_read = (grain, self.site.host_read(grain))

    # `count` lets one event carry a coalesced extent: a transition costs about as much as
    # copying one grain, so real-time work is batched per event.
    def copy_grain(self, grain: int, count: int = 1) -> None:
        self.site.copy_extent(grain, count)

    def resync_grain(self, grain: int, count: int = 1) -> None:
        self.site.resync_extent(grain, count)

    def commit(self) -> None:
        self.site.commit()

    def restart(self) -> None:
        self.site.start()


class RemoteService(StateMachine):
    """The remote site: serving messages and draining I2 -> T, or down."""

    serving = State("serving", initial=True)
    down = State("down")

    DrainTarget = serving.to.itself(internal=True, on="drain")
    CrashSite = serving.to(down, unless="armed") | serving.to.itself(
        internal=True, cond="armed", on="arm_crash"
    )
    Recover = down.to(serving, on="restart")

    def __init__(self, site: RemoteSite, **kwargs: Any) -> None:
        self.site = site
        super().__init__(**kwargs)

    def on_enter_down(self) -> None:
        self.site.crash()

    def armed(self, after_writes: int = 0) -> bool:
        return after_writes > 0

    def arm_crash(self, after_writes: int) -> None:
        self.site.injector.arm(self.site.site, after_writes)

    def drain(self, grain: int, count: int = 1) -> None:
        self.site.drain(grain, count)

    def restart(self) -> None:
        self.site.start()
