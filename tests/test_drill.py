"""The disaster drill (tests/drill.py), one round of each fault: the primary killed, the
secondary killed, the link cut; examples/drill.py runs twenty."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from daemons import two_hosts, why_no_hosts
from drill import FAULTS, run


def test_one_round_of_each_fault_fails_over_and_back(tmp_path: Path) -> None:
    if (reason := why_no_hosts()) is not None:
        pytest.skip(reason)
    missing = [tool for tool in ("mkfs.ext4", "e2fsck", "losetup") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the drill needs {', '.join(missing)} (the README's commands install them)")
    with two_hosts() as hosts:
        rounds = run(tmp_path, hosts, rounds=len(FAULTS), seed=1, grains=1024,
                     faults=list(FAULTS))  # fmt: skip
    assert [r.fault for r in rounds] == list(FAULTS)
    assert sum(r.commits_before_point for r in rounds) > 0  # the checks saw commits
    for r in rounds:
        assert 0 <= r.resync_grains < 1024 // 2, r  # never the whole volume
