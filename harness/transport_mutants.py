"""How a run names its transport, design-neutrally: in one process, or over TCP with the
product's listener or a transport mutant's (the listeners are the TCP design's:
harness/cyclic_flashcopy/transport_mutants.py)."""

from __future__ import annotations

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
