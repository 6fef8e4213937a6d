"""Design A's cycle controllers: python-statemachine skeletons over the site objects.

A machine holds only the phase; its site (the machine's `model`) holds the volumes, maps and
journal, and python-statemachine calls the site's own methods as the transitions' callbacks
and guards, passing each event's arguments by name.  Events carry the vocabulary's names
(`CopyGrain`, `CommitPoint`, `CrashSite`, ...) and the names of the messages the remote
receives (`MirrorWrite`, `Commit`); `Settle` moves the local phase to whatever the maps now
say, after any action.  A refused event raises `TransitionNotAllowed`; an action that raises
leaves the phase unchanged.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine


class LocalCycle(StateMachine):
    """Phases of a cycle at the local site."""

    copying = State("copying", initial=True)  # the copy map is not empty
    resyncing = State("resyncing")  # copied, but grains wait for the link
    ready = State("ready")  # I1 = I2 = P_k: the point can commit
    down = State("down")

    HostWrite = (
        copying.to.itself(internal=True, on="write_host_grain")
        | resyncing.to.itself(internal=True, on="write_host_grain")
        | ready.to.itself(internal=True, on="write_host_grain")
    )
    HostFlush = (
        copying.to.itself(internal=True, on="flush_host_cache")
        | resyncing.to.itself(internal=True, on="flush_host_cache")
        | ready.to.itself(internal=True, on="flush_host_cache")
    )
    HostRead = (
        copying.to.itself(internal=True, on="read_host_grain")
        | resyncing.to.itself(internal=True, on="read_host_grain")
        | ready.to.itself(internal=True, on="read_host_grain")
    )
    CopyGrain = copying.to.itself(internal=True, on="copy_extent")
    ResyncGrain = copying.to.itself(internal=True, cond="link_up", on="resync_extent") | (
        resyncing.to.itself(internal=True, cond="link_up", on="resync_extent")
    )
    CommitPoint = ready.to(copying, cond=["link_up", "cache_flushed"], on="commit") | (
        copying.to.itself(internal=True, cond=["link_up", "may_commit_early", "in_sync",
                                               "cache_flushed"], on="commit")
    )  # fmt: skip
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
    CrashSite = copying.to(down) | resyncing.to(down) | ready.to(down)
    Recover = down.to(copying, on="start")

    def __init__(self, site: Any, **kwargs: Any) -> None:
        super().__init__(model=site, **kwargs)

    def on_enter_down(self) -> None:
        self.model.crash()


class RemoteService(StateMachine):
    """The remote site: serving messages and draining I2 -> T, or down."""

    serving = State("serving", initial=True)
    down = State("down")

    MirrorWrite = serving.to.itself(internal=True, on="mirror_write")
    Commit = serving.to.itself(internal=True, on="commit")
    DrainTarget = serving.to.itself(internal=True, on="drain")
    CrashSite = serving.to(down)
    Recover = down.to(serving, on="start")

    def __init__(self, site: Any, **kwargs: Any) -> None:
        super().__init__(model=site, **kwargs)

    def on_enter_down(self) -> None:
        self.model.crash()
