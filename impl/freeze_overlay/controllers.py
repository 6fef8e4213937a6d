"""Design B's controllers: python-statemachine skeletons over one site.

A machine holds only a phase; its site (the machine's `model`, impl/freeze_overlay/site.py)
holds the volumes and journal, and python-statemachine calls the site's own methods as the
transitions' callbacks and guards, passing each event's arguments by name (every event of a
group's cycle carries `group`).  One site may run several machines, each keeping its phase in
a field of its own.  Events carry the vocabulary's names (`FreezeGroup`, `CopyDelta`,
`MergeRemote`, ...) and the names of the messages a remote receives (`DeltaWrite`,
`Complete`); `Settle` moves a group's phase to whatever its metadata now says.  A refused
event raises `TransitionNotAllowed`; an action that raises leaves the phase unchanged.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine


class GroupCycle(StateMachine):
    """The phases of one consistency group at its home site."""

    copying = State("copying", initial=True)  # the frozen delta goes to the remotes
    merging = State("merging")  # every remote has it: merge it into the base
    idle = State("idle")  # ready for the next freeze

    HostWrite = (
        copying.to.itself(internal=True, on="write_host_grain")
        | merging.to.itself(internal=True, on="write_host_grain")
        | idle.to.itself(internal=True, on="write_host_grain")
    )
    HostFlush = (
        copying.to.itself(internal=True, on="flush_host_cache")
        | merging.to.itself(internal=True, on="flush_host_cache")
        | idle.to.itself(internal=True, on="flush_host_cache")
    )
    HostRead = (
        copying.to.itself(internal=True, on="read_host_grain")
        | merging.to.itself(internal=True, on="read_host_grain")
        | idle.to.itself(internal=True, on="read_host_grain")
    )
    FreezeGroup = idle.to(copying, cond="may_freeze", on="freeze_group") | copying.to.itself(
        internal=True, cond=["may_freeze", "may_freeze_early"], on="freeze_group"
    )
    FreezeMember = copying.to.itself(internal=True, on="freeze_member")
    CopyDelta = copying.to.itself(internal=True, on="copy_delta")
    MarkComplete = copying.to.itself(internal=True, on="mark_complete")
    MergeLocal = merging.to.itself(internal=True, on="merge_local") | copying.to.itself(
        internal=True, cond="may_merge_early", on="merge_local"
    )
    DropLocalDelta = merging.to(idle, on="drop_local_delta") | copying.to(
        idle, cond="may_merge_early", on="drop_local_delta"
    )
    BreakMirror = (
        copying.to.itself(internal=True, on="break_mirror")
        | merging.to.itself(internal=True, on="break_mirror")
        | idle.to.itself(internal=True, on="break_mirror")
    )
    Settle = (
        copying.to(merging, cond=["has_merge_work", "complete_everywhere"])
        | copying.to(idle, cond="complete_everywhere")
        | copying.to.itself(internal=True)
        | merging.to(idle, unless="has_merge_work")
        | merging.to.itself(internal=True)
        | idle.to(copying, unless="complete_everywhere")
        | idle.to.itself(internal=True)
    )

    def __init__(self, site: Any, group: int, **kwargs: Any) -> None:
        super().__init__(model=site, state_field=f"group{group}_phase", **kwargs)


class SiteService(StateMachine):
    """A site serving (its remote merges and drops, the messages it receives) or down."""

    serving = State("serving", initial=True)
    down = State("down")

    DeltaWrite = serving.to.itself(internal=True, on="receive_delta")
    Complete = serving.to.itself(internal=True, on="receive_complete")
    MergeRemote = serving.to.itself(internal=True, on="merge_remote")
    DropRemoteDelta = serving.to.itself(internal=True, on="drop_remote_delta")
    CrashSite = serving.to(down, cond="between_actions")
    Recover = down.to(serving, on="start")

    def __init__(self, site: Any, **kwargs: Any) -> None:
        super().__init__(model=site, state_field="service_phase", **kwargs)

    def on_enter_down(self) -> None:
        self.model.crash()
