"""The stricter order, as design B ran before the pipelined order became its default: the next
freeze waits until the current point is merged away at home, and a remote merges and drops its
complete delta before it takes the next point.  Safe, and slower: the merges do not overlap the
next cycle's copy (bench/pipelined.py measures by how much)."""

DESIGN = "freeze-overlay"

OPTIONS = {"pipelined": False}
