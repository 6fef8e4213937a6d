"""The block frontend: a host's ext4, SQLite and fsync'd files on the mirrored volume, through
the daemons, and the committed point recovered elsewhere (issue: a real host on the mirrored
volume).  Needs root (FUSE, loop devices): CI runs as root, so these never skip there."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from daemons import Daemon, Folders, Pair, Sites, running
from host_workload import HostWorkload, check_point, mounted, recover, sh

from pitmirror.harness.loop_thread import free_port
from pitmirror.model import freeze_overlay as model
from pitmirror.node.frontend import FrontendError, clean_leftovers, loop_devices, mounts

GRAINS = 2048  # 128 MiB volumes of 64 KiB grains


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the block frontend needs root (FUSE and loop devices); CI runs as root")


def _with_frontend(config: Path) -> None:
    config.write_text(config.read_text() + '[frontend]\nmount = "frontend"\n')


def _devices(folders: Folders, site: str) -> dict[str, str]:
    frontend = folders.status(site)["frontend"]
    devices = {v["name"]: v["device"] for v in frontend["volumes"]}
    assert all(str(d).startswith("/dev/loop") for d in devices.values()), frontend
    return devices


def _export(folders: Folders, site: str, to: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", "from pitmirror.node.cli import main; main()", "export",
         "--config", str(folders.config(site)), "--to", str(to), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {v["name"]: v for v in json.loads(done.stdout)["volumes"]}


def _after_the_point(folders: Folders, remote: str, work: HostWorkload, started: float) -> None:
    """Wait for a point the remote committed with the workload running a while before it, then
    for commits after it (the check needs some on each side)."""
    folders.wait(remote, lambda d: (d["committed_point"].get("source_time") or 0) > started + 1.5,
                 60, "a point taken after the workload ran 1.5 s")  # fmt: skip
    seen = folders.status(remote)["committed_point"]["source_time"]
    deadline = time.monotonic() + 30
    while not work.log or work.log[-1].returned_at < seen + 0.5:
        work.check_running()
        assert time.monotonic() < deadline, "the host workload committed nothing after the point"
        time.sleep(0.05)


def _left_nothing(mount: Path) -> None:
    assert not [d for d, back in loop_devices().items() if back.startswith(f"{mount}/")]
    assert all(point != str(mount) for _, point, _ in mounts())


def test_design_a_ext4_and_sqlite_on_the_frontend_recover_at_a_committed_point(
    tmp_path: Path, as_root: None
) -> None:
    pair = Pair(tmp_path, grains=GRAINS, port=free_port(), source_random=False)
    _with_frontend(pair.config("local"))
    with running(pair, "remote", "local") as daemons:
        device = _devices(pair, "local")["source"]
        sh("mkfs.ext4", "-q", "-F", device)
        with mounted(device, tmp_path / "host") as root, HostWorkload(root, root) as work:
            started = time.time()
            _after_the_point(pair, "remote", work, started)
            daemons["remote"].kill()  # the point is what the remote's disks hold, not a report
        work.check_running()
        frontend = pair.status("local")["frontend"]
    _left_nothing(tmp_path / "state-local" / "frontend")
    assert frontend["flushes"] > 0 and frontend["partial_grains"] > 0, frontend
    exported = _export(pair, "remote", tmp_path / "export")
    image = Path(exported["source"]["file"])
    recovered = recover(image, image, tmp_path / "check")
    counts = check_point(recovered, work.log, exported["source"]["point"]["source_time"])
    assert counts["before"] > 0 and counts["after"] > 0, counts


def test_design_b_a_consistency_group_of_two_volumes_recovers_one_instant(
    tmp_path: Path, as_root: None
) -> None:
    """The databases on one volume, the application's files on the other: a file names the
    transaction it follows, so one instant across both means no file without its rows."""
    topology = model.topology("group", GRAINS)  # objects db and log, home left, remote right
    sites = Sites(tmp_path, topology, {site: free_port() for site in topology.sites})
    _with_frontend(sites.config("left"))
    with running(sites, "right", "left") as daemons:
        devices = _devices(sites, "left")
        assert set(devices) == {"db", "log"}
        for device in devices.values():
            sh("mkfs.ext4", "-q", "-F", device)
        with (
            mounted(devices["db"], tmp_path / "db") as db_root,
            mounted(devices["log"], tmp_path / "log") as files_root,
            HostWorkload(db_root, files_root) as work,
        ):
            _after_the_point(sites, "right", work, time.time())
            daemons["right"].kill()
        work.check_running()
    _left_nothing(tmp_path / "state-left" / "frontend")
    exported = _export(sites, "right", tmp_path / "export")
    assert exported["db"]["point"] == exported["log"]["point"]
    recovered = recover(Path(exported["db"]["file"]), Path(exported["log"]["file"]),
                        tmp_path / "check")  # fmt: skip
    counts = check_point(recovered, work.log, exported["db"]["point"]["source_time"])
    assert counts["before"] > 0 and counts["after"] > 0, counts


def test_a_killed_daemon_s_devices_are_cleaned_up_by_the_next_start(
    tmp_path: Path, as_root: None
) -> None:
    """kill -9 leaves the loop device and the FUSE mount: a restart refuses while the host
    still has the old device mounted (it says where), and takes both away once it is not."""
    pair = Pair(tmp_path, grains=256, port=free_port(), source_random=False)
    _with_frontend(pair.config("local"))
    mount = tmp_path / "state-local" / "frontend"
    with running(pair, "remote") as daemons:
        local = Daemon(pair, "local")
        try:
            device = _devices(pair, "local")["source"]
            sh("mkfs.ext4", "-q", "-F", device)
            with mounted(device, tmp_path / "host"):
                local.kill()
                refused = subprocess.run(
                    [sys.executable, "-c", "from pitmirror.node.cli import main; main()",
                     "serve", "--config", str(pair.config("local"))],
                    capture_output=True, text=True, check=False, timeout=60,
                )  # fmt: skip
                assert refused.returncode != 0
                assert f"{device}" in refused.stderr and "still mounted" in refused.stderr
                assert "Traceback" not in refused.stderr
            daemons["local"] = Daemon(pair, "local")  # stopped with the remote on the way out
            log = (tmp_path / "local.log").read_text()
            assert f"detached {device}" in log and "unmounted the FUSE mount" in log, log
            assert _devices(pair, "local")["source"]
        finally:
            local.kill()
            if daemons.get("local") is None:  # failed before the restart cleaned the leftovers
                with contextlib.suppress(FrontendError):
                    clean_leftovers(mount)
    _left_nothing(mount)
