"""Every verification command, registered on the product's app by being imported.

The libraries come first: when one is missing, nothing of the harness registers, and the
product's command line says which extra brings them (node/cli.py).
"""

from __future__ import annotations

import coverage  # noqa: F401
import hypothesis  # noqa: F401
import z3  # noqa: F401

from pitmirror.harness.cli import check, cleanup, demo, power_loss, prove, replay, verify
from pitmirror.harness.cli import coverage as coverage_command

COMMANDS = (check, cleanup, coverage_command, demo, power_loss, prove, replay, verify)
"""each module registers its command on the app as it is imported"""
