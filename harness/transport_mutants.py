"""How a run names its transport, design-neutrally: in one process, or over TCP with the
product's listener or a transport mutant's (the listeners: harness/transport_listeners.py), and
the plan of faults a TCP world runs under (harness/<design>/tcp_world.py)."""

from __future__ import annotations

from dataclasses import dataclass

TRANSPORT_MUTANTS = (
    "acknowledge-before-applying",
    "commit-before-its-data",
    "session-forgotten-at-reconnect",
)
TRANSPORTS = ("tcp", *(f"tcp:{name}" for name in TRANSPORT_MUTANTS))
"""tcp (the product's listener) or tcp:<transport mutant>; no transport: the sites in one
process"""


def transport_mutant(transport: str | None) -> str | None:
    """The transport mutant a transport name runs, if any."""
    return (transport or "").partition(":")[2] or None


SITE_PROCESS = "pitmirror.harness.site_process"
"""the module a site's child process runs (the product's daemon, stepped)"""
SETTLE_SECONDS = 20.0
"""how long a link may take to come up or go down after a fault: past it, the world says so"""


@dataclass(frozen=True)
class TcpPlan:
    """The transport faults the model does not see, and the listener under test."""

    cut_data_every: int = 3
    """the connection is cut inside every n-th data frame (0: never)"""
    cut_ack_every: int = 4
    """and inside every n-th acknowledgement, after the remote applied the frame"""
    mutant: str | None = None
    """a transport mutant's name, or the product's listener"""


def tcp_plan(transport: str | None) -> TcpPlan | None:
    """The plan a transport name stands for (None: in one process)."""
    if transport is None:
        return None
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r} (known: {', '.join(TRANSPORTS)})")
    return TcpPlan(mutant=transport_mutant(transport))
