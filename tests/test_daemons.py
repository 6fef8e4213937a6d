"""Two `pitmirror serve` processes mirror over loopback TCP: what status says is checked against
what the volumes and journals hold, through a kill -9 and restart of either site, a stalled peer
and a stranger on the port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from daemons import GRAIN, Daemon, Pair, running
from prometheus_client.parser import text_string_to_metric_families

from pitmirror.harness.loop_thread import free_port
from pitmirror.node.digest import digest_of

FIELDS = {"schema_version", "mirror", "design", "site", "role", "epoch", "peers",
          "committed_point", "rpo_seconds", "out_of_sync", "cycle", "groups", "link"}  # fmt: skip


def pitmirror(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def inspect(pair: Pair, site: str) -> dict[str, Any]:
    run = pitmirror("inspect", "--config", str(pair.config(site)), "--json")
    assert run.returncode == 0, run.stderr
    doc: dict[str, Any] = json.loads(run.stdout)
    return doc


def committed_past(cycle: int) -> Any:
    """The committed point holds every write made in `cycle`: point cycle + 1 (taken when
    cycle + 1 began) or a later one."""
    return lambda doc: doc["committed_point"]["number"] >= cycle + 1


def workload(pair: Pair, writes: int, seed: int) -> int:
    """Random whole-grain writes through the host door; the cycle of the last."""
    rng = __import__("random").Random(seed)
    cycle = 0
    for _ in range(writes):
        grain = rng.randrange(pair.grains - 2)
        cycle = pair.write(grain, os.urandom(GRAIN * rng.randint(1, 2)))
    return cycle


def test_two_daemons_mirror_and_status_says_what_the_volumes_hold(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=64, port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        cycle = workload(pair, 40, seed=1)
        remote = pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        local = pair.wait("local", lambda d: d["committed_point"]["number"] >=
                          remote["committed_point"]["number"])  # fmt: skip
        cli = pitmirror("status", "--config", str(pair.config("remote")), "--json")
        assert cli.returncode == 0, cli.stderr
        human = pitmirror("status", "--config", str(pair.config("local")))
        assert "role:primary" in human.stdout and "connection:connected" in human.stdout
        for code in [d.stop() for d in daemons.values()]:
            assert code == 0  # SIGTERM is a clean stop
    doc = json.loads(cli.stdout)
    assert set(doc) >= FIELDS and doc["schema_version"] == 3
    assert (doc["site"], doc["role"], doc["epoch"], doc["design"]) == (
        "remote",
        "secondary",
        1,
        "cyclic-flashcopy",
    )
    assert local["role"] == "primary" and local["peers"][0]["connection"] == "connected"
    point = remote["committed_point"]
    # the digest status reported is the committed image's, which is the source's: no write
    # came after the point
    assert point["digest"] == pair.target_digest() == pair.source_digest()
    assert point["source_time"] is not None and remote["rpo_seconds"] >= 0
    # the figures are the journals' after the stop
    remote_journal, local_journal = inspect(pair, "remote"), inspect(pair, "local")
    assert remote_journal["numbers"]["committed"] >= point["number"]
    assert local_journal["numbers"]["cycle"] >= point["number"] + 1
    assert local["cycle"]["number"] <= local_journal["numbers"]["cycle"]
    assert local["out_of_sync"]["grains"] == 0 == sum(local_journal["maps"].values())
    assert "pitmirror[remote] INFO: stopped" in (tmp_path / "remote.log").read_text()


def test_out_of_sync_counts_what_the_target_does_not_hold(tmp_path: Path) -> None:
    """With the remote down, writes pile up at the local site: status counts them as the
    journal does, and the remote's restart drains them into a committed image."""
    pair = Pair(tmp_path, grains=64, port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("remote", committed_past(1), what="the first point")
        daemons["remote"].kill()
        pair.wait("local", lambda d: not d["link"]["up"], what="the link down")
        written = {3, 4, 5, 20, 40}
        for grain in sorted(written):
            pair.write(grain, os.urandom(GRAIN))
        local = pair.wait("local", lambda d: d["out_of_sync"]["grains"] == len(written),
                          what="5 grains out of sync")  # fmt: skip
        assert local["out_of_sync"]["bytes"] == len(written) * GRAIN
        assert local["peers"][0]["connection"] == "connecting"
        daemons["local"].stop()
        maps = inspect(pair, "local")["maps"]
        assert maps["future_map"] + maps["out_of_sync"] + maps["copy_map"] >= len(written)
        daemons["local"] = Daemon(pair, "local")
        daemons["remote"] = Daemon(pair, "remote")
        cycle = pair.write(50, os.urandom(GRAIN))
        pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        pair.wait("local", lambda d: d["out_of_sync"]["grains"] == 0, what="in sync")
        for d in daemons.values():
            assert d.stop() == 0
    assert pair.target_digest() == pair.source_digest()


def test_kill_9_of_either_site_and_restart_resume_from_the_journals(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=128, port=free_port())
    with running(pair, "remote", "local") as daemons:
        for round_, victim in enumerate(("remote", "local", "remote")):
            workload(pair, 10, seed=round_)
            daemons[victim].kill()  # at whatever instant the work had reached
            daemons[victim] = Daemon(pair, victim)
            pair.wait("local", lambda d: d["link"]["up"], what="the link up again")
        cycle = workload(pair, 10, seed=9)
        remote = pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        for d in daemons.values():
            assert d.stop() == 0
    assert remote["committed_point"]["digest"] == pair.target_digest() == pair.source_digest()


def test_a_stalled_peer_is_declared_down_and_the_link_resumes(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=64, port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", committed_past(1), what="the first point")
        os.kill(daemons["remote"].process.pid, signal.SIGSTOP)
        try:
            pair.wait("local", lambda d: not d["link"]["up"], what="the link down")
            pair.write(7, os.urandom(GRAIN))
        finally:
            os.kill(daemons["remote"].process.pid, signal.SIGCONT)
        cycle = pair.write(8, os.urandom(GRAIN))
        remote = pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        for d in daemons.values():
            assert d.stop() == 0
    assert remote["committed_point"]["digest"] == pair.target_digest() == pair.source_digest()
    assert "no frame from the peer within the timeout" in (tmp_path / "local.log").read_text()


def test_a_stranger_on_the_port_gets_nothing_and_the_mirror_goes_on(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=64, port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["link"]["up"], what="the link up")
        with socket.create_connection(("127.0.0.1", pair.port), timeout=5) as stranger:
            stranger.sendall(b"GET / HTTP/1.1\r\nHost: pitmirror\r\n\r\n" + b"\0" * 64)
            stranger.shutdown(socket.SHUT_WR)
            answer = stranger.recv(1024)
        assert not answer.startswith(b"HTTP") and b"committed" not in answer
        cycle = pair.write(1, os.urandom(GRAIN))
        pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        for d in daemons.values():
            assert d.stop() == 0
    log = (tmp_path / "remote.log").read_text()
    assert "refused a connection from 127.0.0.1" in log and "bad banner" in log


def _scrape(port: int) -> dict[str, float]:
    """Each pitmirror sample by name (a role's or state's by name:role), parsed as Prometheus
    does."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = sample.labels.get("role") or sample.labels.get("state")
            values[sample.name + (f":{label}" if label else "")] = sample.value
    return values


def test_metrics_say_what_status_says(tmp_path: Path) -> None:
    ports = {"local": free_port(), "remote": free_port()}
    pair = Pair(tmp_path, grains=32, port=free_port(), metrics=ports)
    with running(pair, "remote", "local") as daemons:
        cycle = pair.write(3, os.urandom(GRAIN))
        pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        daemons["local"].stop()
        remote = pair.wait("remote", lambda d: not d["link"]["up"], what="the link down")
        metrics = _scrape(ports["remote"])
    point = remote["committed_point"]
    assert metrics["pitmirror_committed_point"] == point["number"]
    assert metrics["pitmirror_committed_point_timestamp_seconds"] == point["source_time"]
    assert metrics["pitmirror_out_of_sync_bytes"] == remote["out_of_sync"]["bytes"]
    assert metrics["pitmirror_link_up"] == 0.0 and metrics["pitmirror_epoch"] == 1
    assert metrics["pitmirror_role:secondary"] == 1
    assert metrics["pitmirror_pair_epoch"] == 1 and metrics["pitmirror_pair_state:secondary"] == 1
    assert metrics["pitmirror_link_received_bytes_total"] >= 32 * GRAIN


def test_a_paused_site_holds_its_work_and_resumes(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=32, port=free_port())
    with running(pair, "remote", "local") as daemons:
        before = pair.wait("remote", committed_past(1), what="the first point")
        paused = pitmirror("pause", "--config", str(pair.config("local")))
        assert paused.returncode == 0, paused.stderr
        cycle = pair.write(4, os.urandom(GRAIN))
        local = pair.wait("local", lambda d: d["out_of_sync"]["grains"] >= 1, what="behind")
        assert (
            local["paused"]
            and "paused"
            in pitmirror("status", "--config", str(pair.config("local"))).stdout.splitlines()[0]
        )
        held = pair.status("local")["committed_point"]["number"]
        assert pair.status("local")["cycle"]["number"] == cycle  # nothing committed meanwhile
        assert held <= cycle - 1 and held >= before["committed_point"]["number"]
        assert pitmirror("resume", "--config", str(pair.config("local"))).returncode == 0
        remote = pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        for d in daemons.values():
            assert d.stop() == 0
    assert remote["committed_point"]["digest"] == pair.target_digest() == pair.source_digest()


def test_the_write_and_watch_commands(tmp_path: Path) -> None:
    """`pitmirror write` puts a file's grains through the host door; `status --watch` prints a
    JSON line now and one at each change (here: the write's point committing)."""
    pair = Pair(tmp_path, grains=16, port=free_port())
    data = tmp_path / "two-grains.bin"
    data.write_bytes(os.urandom(2 * GRAIN))
    with running(pair, "remote", "local") as daemons:
        pair.wait("remote", committed_past(1), what="the first point")
        command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", "status",
                   "--config", str(pair.config("remote")), "--watch"]  # fmt: skip
        watcher = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert watcher.stdout is not None
            first = json.loads(watcher.stdout.readline())
            wrote = pitmirror("write", "--config", str(pair.config("local")), "--grain", "3",
                              "--from", str(data))  # fmt: skip
            assert wrote.returncode == 0, wrote.stderr
            cycle = int(wrote.stdout.split("in cycle ")[1])
            while (doc := json.loads(watcher.stdout.readline()))["committed_point"][
                "number"
            ] < cycle + 1:
                pass
        finally:
            watcher.terminate()
            watcher.wait(10)
        assert first["site"] == "remote" and doc["committed_point"]["number"] >= cycle + 1
        bad = pitmirror("write", "--config", str(pair.config("remote")), "--grain", "0",
                        "--from", str(data))  # fmt: skip
        assert bad.returncode == 2 and "no host door" in bad.stderr
        for d in daemons.values():
            assert d.stop() == 0
    with open(tmp_path / "source.img", "rb") as source:
        source.seek(3 * GRAIN)
        assert source.read(2 * GRAIN) == data.read_bytes()
    assert pair.target_digest() == pair.source_digest()


def test_a_second_daemon_on_the_same_state_is_refused(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=16, port=free_port())
    with running(pair, "remote") as daemons:
        again = pitmirror("serve", "--config", str(pair.config("remote")))
        assert again.returncode == 2
        pid = daemons["remote"].process.pid
        assert f"another pitmirror daemon (pid {pid}) serves" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
        busy = pitmirror("inspect", "--config", str(pair.config("remote")))
        assert busy.returncode == 2 and "use pitmirror status" in busy.stderr


def test_serve_without_a_secret_or_an_address_says_which(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=16, port=free_port())
    config = pair.config("local")
    config.write_text(config.read_text().replace('secret_file = "secret"\n', ""))
    run = pitmirror("serve", "--config", str(config))
    assert run.returncode == 2 and "'secret_file' is missing" in run.stderr
    (tmp_path / "secret").write_text("short\n")
    remote = pair.config("remote")
    run = pitmirror("serve", "--config", str(remote))
    assert run.returncode == 2 and "at least 16 are needed" in run.stderr
    status = pitmirror("status", "--config", str(remote))
    assert status.returncode == 2 and "is it running?" in status.stderr


def test_a_status_socket_path_too_long_for_a_unix_socket_is_said(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=16, port=free_port())
    config = pair.config("local")
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    config.write_text(config.read_text() + f'[status]\nsocket = "{deep}/control.sock"\n')
    run = pitmirror("serve", "--config", str(config))
    assert run.returncode == 2 and "longer path than a unix socket may have" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_site_stopped_while_it_copies_stops_cleanly(tmp_path: Path) -> None:
    """SIGTERM lands while the engine waits in a send for the peer's acknowledgement: the link
    refuses the engine's next send and the engine shuts down off the loop, which that send
    needs (the stop once hung there for good)."""
    pair = Pair(tmp_path, grains=4096, port=free_port())  # 256 MiB to copy first
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["cycle"]["bytes_done"] > 0, what="copying under way")
        assert pair.status("local")["cycle"]["phase"] == "copying"
        started = time.monotonic()
        assert daemons["local"].stop() == 0
        assert time.monotonic() - started < 20
        log = (tmp_path / "local.log").read_text()
        assert "stopped" in log.splitlines()[-1], log[-2000:]


def test_a_peer_promoted_while_this_site_was_away_makes_it_outdated(tmp_path: Path) -> None:
    """The sites' role records meet in their HELLOs: a primary that finds its secondary in an
    epoch made from its own is outdated, refuses the host's writes and the mirror, and status
    says what resolves it.  (The peer's record is written as a forced promote leaves it.)"""
    pair = Pair(tmp_path, grains=16, port=free_port())
    with running(pair, "remote", "local"):
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        local = pair.status("local")
        assert (local["role"], local["epoch"]) == ("primary", 1)
        assert local["roles"][""]["peer"] == {"role": "secondary", "epoch": 1, "split": False}
        pair.write(0, os.urandom(GRAIN))
    (pair.root / "state-remote" / "roles.json").write_text(
        json.dumps({"epoch": 2, "parent": 1, "known": 2, "role": "primary", "split": False})
    )
    with running(pair, "remote", "local"):
        # the record is written as the HELLOs meet, the link's refusal said a moment after
        local = pair.wait("local", lambda d: d["role"] == "outdated"
                          and "different epochs" in (d["peers"][0]["last_error"] or ""),
                          what="outdated, the link refused")  # fmt: skip
        roles = local["roles"][""]
        assert roles["known"] == 2 and not roles["writable"]
        assert "resync --discard-local" in roles["resolve"]
        refused = pitmirror("write", "--config", str(pair.config("local")), "--grain", "0",
                            "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert refused.returncode != 0 and "outdated" in refused.stderr
        human = pitmirror("status", "--config", str(pair.config("local")))
        assert "outdated in epoch 1 (known 2), peer primary in epoch 2" in human.stdout
    # durable: the site says so after a restart too, before it meets anyone
    with running(pair, "local"):
        assert pair.status("local")["role"] == "outdated"


def test_demote_stops_the_hosts_writes(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=16, port=free_port())
    with running(pair, "remote", "local"):
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        demoted = pitmirror("demote", "--config", str(pair.config("local")))
        assert demoted.returncode == 0, demoted.stderr
        assert pair.status("local")["role"] == "secondary"
        again = pitmirror("demote", "--config", str(pair.config("local")))
        assert again.returncode != 0 and "not primary" in again.stderr
        refused = pitmirror("write", "--config", str(pair.config("local")), "--grain", "0",
                            "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert refused.returncode != 0 and "secondary" in refused.stderr


def _grain_file(root: Path) -> Path:
    path = root / "grain.bin"
    path.write_bytes(os.urandom(GRAIN))
    return path


def test_a_forced_promote_serves_the_committed_point_and_outdates_the_old_primary(
    tmp_path: Path,
) -> None:
    """The primary is killed; the secondary, promoted with --force, rolls its copy to the
    committed point status reported (digest equal), takes host writes in epoch 2 (also after a
    restart), and the old primary, back, is outdated and refuses the host's writes."""
    pair = Pair(tmp_path, grains=32, port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        cycle = workload(pair, 20, seed=3)
        remote = pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        workload(pair, 10, seed=4)  # some of it not committed when the primary dies
        daemons["local"].kill()
        point = pair.wait("remote", lambda d: not d["link"]["up"], what="link down")
        orderly = pitmirror("promote", "--config", str(pair.config("remote")))
        assert orderly.returncode != 0 and "promote --force" in orderly.stderr
        digest = point["committed_point"]["digest"]
        assert point["committed_point"]["number"] >= remote["committed_point"]["number"]
        promoted = pitmirror("promote", "--force", "--config", str(pair.config("remote")))
        assert promoted.returncode == 0, promoted.stderr
        assert "primary in epoch 2" in promoted.stdout
        status = pair.status("remote")
        assert (status["role"], status["epoch"]) == ("primary", 2)
        assert digest_of((tmp_path / "target.img").read_bytes(), GRAIN) == digest
        again = pitmirror("promote", "--force", "--config", str(pair.config("remote")))
        assert again.returncode != 0 and "not a secondary" in again.stderr
        wrote = pitmirror("write", "--config", str(pair.config("remote")), "--grain", "5",
                          "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert wrote.returncode == 0, wrote.stderr
    with running(pair, "remote", "local"):
        assert pair.status("remote")["role"] == "primary"
        local = pair.wait("local", lambda d: d["role"] == "outdated", what="outdated")
        assert local["roles"][""]["peer"]["epoch"] == 2
        refused = pitmirror("write", "--config", str(pair.config("local")), "--grain", "0",
                            "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert refused.returncode != 0 and "outdated" in refused.stderr
        wrote = pitmirror("write", "--config", str(pair.config("remote")), "--grain", "6",
                          "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert wrote.returncode == 0, wrote.stderr
    assert (tmp_path / "target.img").read_bytes()[6 * GRAIN : 7 * GRAIN] == (
        tmp_path / "grain.bin"
    ).read_bytes()


def test_a_split_brain_made_on_purpose_is_reported_at_both_sites(tmp_path: Path) -> None:
    """Both sites promoted while apart: when they meet, each status says split brain, neither
    mirrors, and the one in the lower epoch is outdated (it is the one to discard)."""
    pair = Pair(tmp_path, grains=16, port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        assert pitmirror("demote", "--config", str(pair.config("local"))).returncode == 0
        daemons["remote"].stop()
        pair.wait("local", lambda d: not d["link"]["up"], what="link down")
        forced = pitmirror("promote", "--force", "--config", str(pair.config("local")))
        assert forced.returncode == 0, forced.stderr
        assert pair.status("local")["epoch"] == 3
    with running(pair, "remote"):
        forced = pitmirror("promote", "--force", "--config", str(pair.config("remote")))
        assert forced.returncode == 0, forced.stderr
    with running(pair, "remote", "local"):
        local = pair.wait("local", lambda d: d["roles"][""]["split"], what="split brain")
        remote = pair.wait("remote", lambda d: d["roles"][""]["split"], what="split brain")
        assert local["role"] == remote["role"] == "split brain"
        assert "the side whose changes go" in local["roles"][""]["resolve"]
        assert "this one: it is outdated" in remote["roles"][""]["resolve"]
        assert not local["link"]["up"] and not remote["link"]["up"]
        human = pitmirror("status", "--config", str(pair.config("remote")))
        assert "split brain in epoch 2" in human.stdout
        # only the operator resolves it: the side in the lower epoch discards its changes
        asked = time.monotonic()
        refused = pitmirror("resync", "--discard-local", "--config", str(pair.config("local")))
        assert refused.returncode != 0
        assert "the remote site is outdated too" in refused.stderr
        assert "`pitmirror resync --discard-local` there" in refused.stderr
        # the remote's HELLO said so: not the wait for an answer that cannot come (60 s)
        assert time.monotonic() - asked < 30
        before = time.time()
        resolved = pitmirror("resync", "--discard-local", "--config", str(pair.config("remote")))
        assert resolved.returncode == 0, resolved.stderr
        assert "secondary in epoch 3" in resolved.stdout
        pair.restarted("remote", "local", after=before)  # turned: both start again by themselves
        remote = pair.wait(
            "remote",
            lambda d: d["committed_point"]["number"] >= 1 and d["cycle"]["to_drain_bytes"] == 0,
            what="the pair mirrors",
        )
        assert (remote["role"], remote["epoch"]) == ("secondary", 3)
        assert not remote["roles"][""]["split"] and pair.status("local")["role"] == "primary"
    assert (tmp_path / "source.img").read_bytes() == (tmp_path / "target.img").read_bytes()


def test_a_resync_turns_the_pair_and_copies_only_what_differs(tmp_path: Path) -> None:
    """Forced failover, writes at the new primary, the old primary back and outdated:
    `resync --discard-local` there turns the pair — the new primary's first cycle copies only
    the grains either side changed, then the old primary holds the new primary's image, digest
    for digest, and goes on receiving its writes."""
    pair = Pair(tmp_path, grains=64, port=free_port(), reverse_port=free_port())
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        cycle = workload(pair, 20, seed=5)
        pair.wait("remote", committed_past(cycle), what=f"point {cycle + 1}")
        workload(pair, 5, seed=6)  # the old primary's changes the resync discards
        daemons["local"].kill()
        pair.wait("remote", lambda d: not d["link"]["up"], what="link down")
        promoted = pitmirror("promote", "--force", "--config", str(pair.config("remote")))
        assert promoted.returncode == 0, promoted.stderr
        for grain in (1, 40):
            wrote = pitmirror("write", "--config", str(pair.config("remote")), "--grain",
                              str(grain), "--from", str(_grain_file(tmp_path)))  # fmt: skip
            assert wrote.returncode == 0, wrote.stderr
    with running(pair, "remote", "local") as daemons:
        pair.wait("local", lambda d: d["role"] == "outdated", what="outdated")
        refused = pitmirror("resync", "--config", str(pair.config("local")))
        assert refused.returncode != 0 and "--discard-local" in refused.stderr
        before = time.time()
        resynced = pitmirror("resync", "--discard-local", "--config", str(pair.config("local")))
        assert resynced.returncode == 0, resynced.stderr
        assert "secondary in epoch 2" in resynced.stdout
        pair.restarted("remote", "local", after=before)  # turned: both start again by themselves
        pids = {site: pair.status(site)["pid"] for site in daemons}
        assert pids == {site: daemon.process.pid for site, daemon in daemons.items()}
        remote = pair.status("remote")
        assert (remote["site"], remote["role"], remote["epoch"]) == ("local", "primary", 2)
        # the turn's own count: the status's cycle may be the next one already
        logged = daemons["remote"].log.read_text()
        said = re.findall(r"resync: (\d+) grains to copy from here", logged)
        assert said, "the turn logged no copy set"
        assert 0 < int(said[-1]) < 64 / 2  # the grains either side changed, not the volume
        local = pair.wait("local", lambda d: d["committed_point"]["number"] >= 1
                          and d["cycle"]["to_drain_bytes"] == 0, what="drained")  # fmt: skip
        assert (local["site"], local["role"]) == ("remote", "secondary")
        wrote = pitmirror("write", "--config", str(pair.config("remote")), "--grain", "7",
                          "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert wrote.returncode == 0, wrote.stderr
        cycle = int(wrote.stdout.split("in cycle ")[1])
        pair.wait("local", lambda d: d["committed_point"]["number"] >= cycle + 1
                  and d["cycle"]["to_drain_bytes"] == 0, what="the write committed")  # fmt: skip
    # the old primary's volume (its source, now the target) is the new primary's (its target,
    # now the source)
    assert (tmp_path / "source.img").read_bytes() == (tmp_path / "target.img").read_bytes()


def test_reverse_switches_the_roles_and_back_without_copying_the_volume(tmp_path: Path) -> None:
    """The orderly switch, both sites up: `reverse` at the primary demotes it, waits for the
    last point, and the secondary takes over in the next epoch; the pair mirrors the other way;
    switched again by `promote` at the secondary (the primary, asked, does the same), the first
    primary is back, each time the volumes equal byte for byte."""
    pair = Pair(tmp_path, grains=64, port=free_port(), reverse_port=free_port())
    with running(pair, "remote", "local"):
        pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected", what="connected")
        workload(pair, 20, seed=7)
        early = pitmirror("reverse", "--config", str(pair.config("remote")))
        assert early.returncode != 0 and "mirror's source" in early.stderr
        before = time.time()
        reversed_ = pitmirror("reverse", "--config", str(pair.config("local")))
        assert reversed_.returncode == 0, reversed_.stderr
        assert "secondary in epoch 2" in reversed_.stdout
        pair.restarted("remote", "local", after=before)
        assert (tmp_path / "source.img").read_bytes() == (tmp_path / "target.img").read_bytes()
        remote = pair.wait("remote", lambda d: d["peers"][0]["connection"] == "connected",
                           what="connected")  # fmt: skip
        assert (remote["site"], remote["role"], remote["epoch"]) == ("local", "primary", 2)
        wrote = pitmirror("write", "--config", str(pair.config("remote")), "--grain", "9",
                          "--from", str(_grain_file(tmp_path)))  # fmt: skip
        assert wrote.returncode == 0, wrote.stderr
        before = time.time()  # back by the orderly promote at the secondary this time
        again = pitmirror("promote", "--config", str(pair.config("local")))
        assert again.returncode == 0, again.stderr
        assert "primary in epoch 3" in again.stdout
        pair.restarted("remote", "local", after=before)
        local = pair.wait("local", lambda d: d["peers"][0]["connection"] == "connected",
                          what="connected")  # fmt: skip
        assert (local["site"], local["role"], local["epoch"]) == ("local", "primary", 3)
        pair.write(10, os.urandom(GRAIN))
    assert (tmp_path / "source.img").read_bytes()[9 * GRAIN : 10 * GRAIN] == (
        tmp_path / "grain.bin"
    ).read_bytes()
