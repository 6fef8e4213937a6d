"""The claims' own order (claims 13, 22 and 46: "repeating mirroring after completion of step
f", the copy): the next point is frozen as soon as the current one is complete at every remote.
The frozen delta moves aside to merge into the base while the next one is copied, and a remote
moves its complete delta aside to merge when the next point's first grains arrive.  Safe: each
delta still merges only once every remote has it, and a remote always recovers the newest
point it completed.  Checked with this file before it became the default."""

DESIGN = "freeze-overlay"

OPTIONS = {"pipelined": True}
