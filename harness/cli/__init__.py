"""The `pitmirror` command line: one module per command, the app and shared options in `app`."""

from __future__ import annotations

import os
import sys


def main() -> None:
    # Checked before anything is imported: Hypothesis reads the working directory on import.
    try:
        os.getcwd()
    except FileNotFoundError:
        sys.stderr.write("pitmirror: the working directory no longer exists; cd elsewhere\n")
        raise SystemExit(2) from None
    from pitmirror.harness.cli.app import run

    run()
