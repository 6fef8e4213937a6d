"""What every design model shares: the error its `step` raises for an action it does not enable.

(The typed contract of a design model joins this module with the design registry.)
"""

from __future__ import annotations


class ActionNotEnabled(ValueError):
    """`step` was asked for an action whose guard is false; the message says why."""
