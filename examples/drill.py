"""The disaster drill: two pitmirror daemons in two network namespaces, ext4 and SQLite on the
primary's block frontend, and `--rounds` rounds of a fault at a random instant (the primary
killed, the secondary killed, the link cut), the switch (promote --force, or reverse when both
are alive), the checks on the new primary (its image's digest is the committed point's,
`e2fsck -fn` clean, `PRAGMA integrity_check` ok, every commit that returned before the point
there), failback (resync --discard-local) and both volumes compared.  The machinery is the
tests' (tests/drill.py); this prints a table of the rounds, or `--json`.

Needs root (namespaces, loop devices, FUSE), iproute2, e2fsprogs: the README's set-up installs
them.  Every namespace, daemon, loop device and mount is released on the way out.

    python examples/drill.py [--rounds 20] [--seed 1] [--grains 1024] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemons import GRAIN, two_hosts, why_no_hosts  # noqa: E402
from drill import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grains", type=int, default=1024, help="of 64 KiB: the volume's size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if (reason := why_no_hosts()) is not None:
        print(f"drill: {reason}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pitmirror-drill-") as folder, two_hosts() as hosts:
        try:
            rounds = run(Path(folder), hosts, args.rounds, args.seed, args.grains)
        except AssertionError as failed:
            print(f"drill: a round failed: {failed}", file=sys.stderr)
            return 1
    size = args.grains * GRAIN
    summary = {
        "rounds_passed": len(rounds), "rounds": args.rounds, "volume_bytes": size,
        "bytes_verified": sum(r.bytes_verified for r in rounds),
        "resync_bytes": [r.resync_grains * GRAIN for r in rounds],
        "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps({**summary, "each": [dataclasses.asdict(r) for r in rounds]}, indent=2))
        return 0
    print("round  fault      switch           commits before/after point  resync     seconds")
    for r in rounds:
        print(f"{r.number:>5}  {r.fault:<9}  {r.switch:<15}  {r.commits_before_point:>12} / "
              f"{r.commits_after_point:<12}  {r.resync_grains * GRAIN / size:>6.1%} of the "
              f"volume  {r.seconds:>5.1f}")  # fmt: skip
    print(f"{summary['rounds_passed']} of {args.rounds} rounds passed; "
          f"{summary['bytes_verified'] / 2**20:.0f} MiB verified; "
          f"in {summary['seconds']} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
