"""The Z3 sorts every design's encoding shares: grains and grain contents, both unbounded.

A grain's content is an uninterpreted value; `ZERO` is the content of a never-written grain.
"""

from __future__ import annotations

import z3

Grain = z3.DeclareSort("Grain")
Val = z3.DeclareSort("Val")
ZERO = z3.Const("zero", Val)
