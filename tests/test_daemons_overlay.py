"""Design B's `pitmirror serve` processes mirror over loopback TCP, for one group to one remote,
fan-out, fan-in and both ways: what status says is checked against what the test wrote (its
shadow of every group) and what the remotes' volumes and journals hold, through a kill -9 and
restart of either site."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from daemons import GRAIN, Sites, running

from pitmirror.harness.loop_thread import free_port
from pitmirror.model import freeze_overlay as model
from pitmirror.node.control import ControlError, request
from pitmirror.node.digest import digest_of


def _topology(name: str) -> model.Topology:
    """The model's topologies on volumes of their own (fan-in: both homes' objects on one
    device at the remote)."""
    if name == "fan-in":
        return model.Topology("fan-in", (
            model.GroupSpec((model.ObjectSpec("a", "left", 24),), ("right",)),
            model.GroupSpec((model.ObjectSpec("b", "third", 24),), ("right",)),
        ), fan_in=True)  # fmt: skip
    return model.topology(name, 24)


def _sites(tmp_path: Path, name: str) -> Sites:
    topology = _topology(name)
    return Sites(tmp_path, topology, {site: free_port() for site in topology.sites})


def committed_past(group: int, point: int, remotes: tuple[str, ...]) -> Any:
    """A home's status whose group has every write made after `point` committed at every remote:
    point + 1 or later."""

    def done(doc: dict[str, Any]) -> bool:
        entry = next(g for g in doc["groups"] if g["group"] == group)
        return all(entry["committed"][r]["number"] >= point + 1 for r in remotes)

    return done


def workload(sites: Sites, group: int, writes: int, seed: int) -> int:
    """Random whole-grain writes to a group's members; the point the last follows."""
    rng = random.Random(seed)
    topo = sites.topology
    members = list(topo.group_objects(group))
    point = 0
    for _ in range(writes):
        obj = rng.choice(members)
        count = rng.randint(1, 3)
        offset = rng.randrange(topo.objects[obj].grains - count + 1)
        point = sites.write(topo.first_grain(obj) + offset, os.urandom(GRAIN * count))
    return point


def check_digests(sites: Sites, docs: dict[str, dict[str, Any]]) -> None:
    """Every remote's committed image of every group is the source's, as the home's and the
    remote's status say."""
    for gi, group in enumerate(sites.topology.groups):
        want = sites.source_digest(gi)
        home = next(g for g in docs[group.home]["groups"] if g["group"] == gi)
        for remote in group.remotes:
            held = next(g for g in docs[remote]["groups"] if g["group"] == gi)
            assert held["role"] == "secondary" and home["role"] == "primary"
            assert held["committed"][remote]["digest"] == want
            assert home["committed"][remote]["digest"] == want
            assert home["committed"][remote]["number"] == held["committed"][remote]["number"]


@pytest.mark.parametrize("name", ["single", "fan-out", "fan-in", "bidirectional"])
def test_design_b_daemons_mirror_every_topology(tmp_path: Path, name: str) -> None:
    sites = _sites(tmp_path, name)
    topo = sites.topology
    with running(sites, *topo.sites) as daemons:
        for gi, group in enumerate(topo.groups):
            point = workload(sites, gi, 12, seed=gi)
            sites.wait(group.home, committed_past(gi, point, group.remotes),
                       what=f"group {gi} past point {point}")  # fmt: skip
        docs = sites.settle()
        check_digests(sites, docs)
        for doc in docs.values():
            assert doc["design"] == "freeze-overlay" and doc["schema_version"] == 3
            assert all(p["connection"] == "connected" for p in doc["peers"]), doc["peers"]
            assert doc["link"]["up"] and doc["out_of_sync"]["grains"] == 0
            assert doc["committed_point"]["source_time"] is not None
        for code in [d.stop() for d in daemons.values()]:
            assert code == 0
    for gi, group in enumerate(topo.groups):
        for remote in group.remotes:
            assert sites.target_digest(remote, gi) == sites.source_digest(gi)


def test_design_b_daemons_resume_after_kill_9_of_either_site(tmp_path: Path) -> None:
    sites = _sites(tmp_path, "single")
    with running(sites, "right", "left") as daemons:
        for victim, seed in (("right", 1), ("left", 2), ("right", 3)):
            point = workload(sites, 0, 10, seed=seed)
            daemons[victim].kill()  # at whatever instant the copy is (every write was durable)
            daemons[victim] = type(daemons[victim])(sites, victim)
            sites.wait("left", committed_past(0, point, ("right",)), seconds=60,
                       what=f"past point {point} after the {victim} site's kill -9")  # fmt: skip
        docs = sites.settle()
        check_digests(sites, docs)
        left = docs["left"]
        assert left["groups"][0]["committed"]["right"]["number"] > point
        assert left["rpo_seconds"] is not None and left["rpo_seconds"] >= 0
    assert sites.target_digest("right", 0) == sites.source_digest(0)


def _serve(config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", "serve",
               "--config", str(config)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("edit", "said"), [
    (lambda t: t.replace("[[groups]]", "[[groupz]]"), "'groups' is missing"),
    (lambda t: t.replace('remotes = ["right"]', 'remotes = ["left"]'), "other sites than the home"),
    (lambda t: t.replace('"vol.aux2" = "vol.aux2.img"\n', ""), "missing vol.aux2"),
    (lambda t: t.replace('grains = 24', 'grains = 0'), "positive number of grains"),
    (lambda t: t.replace('kind = "device"', 'kind = "tape"'), "kind 'tape'"),
    (lambda t: t.replace("[link.peers]", "[link.peerz]"), "unknown key"),
])  # fmt: skip
def test_a_wrong_design_b_config_is_one_clear_error(tmp_path: Path, edit: Any, said: str) -> None:
    sites = _sites(tmp_path, "single")
    config = sites.config("left")
    config.write_text(edit(config.read_text()))
    run = _serve(config)
    assert run.returncode == 2 and said in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_sites_that_describe_the_mirror_differently_never_mirror(tmp_path: Path) -> None:
    """The handshake compares the topologies: a mismatch is one log line on each side."""
    sites = _sites(tmp_path, "single")
    left = sites.config("left")
    left.write_text(left.read_text().replace("grains = 24", "grains = 20"))
    with running(sites, "right", "left"):
        doc = sites.wait("left", lambda d: d["peers"][0]["last_error"] is not None,
                         what="the refusal")  # fmt: skip
        assert "geometry" in doc["peers"][0]["last_error"]
        assert doc["peers"][0]["connection"] == "connecting"
    assert "geometry" in (tmp_path / "right.log").read_text()


def _pitmirror(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_group_promoted_by_force_serves_its_committed_point(tmp_path: Path) -> None:
    """The home is killed with writes in flight; the remote, promoted with --force for the
    group, rolls its copy to the committed point its status reported (digest equal), takes the
    host's writes there in epoch 2 (also after a restart), and the old home, back, is outdated
    for the group and refuses the host's writes."""
    sites = _sites(tmp_path, "single")
    first = sites.topology.first_grain(0)
    with running(sites, "right", "left") as daemons:
        point = workload(sites, 0, 12, seed=5)
        sites.wait("left", committed_past(0, point, ("right",)), seconds=60, what="committed")
        workload(sites, 0, 12, seed=6)  # some of it not committed when the home dies
        daemons["left"].kill()
        down = sites.wait("right", lambda d: not d["link"]["up"], what="link down")
        orderly = _pitmirror("promote", "--config", str(sites.config("right")))
        assert orderly.returncode != 0 and "promote --force" in orderly.stderr
        held = down["groups"][0]["committed"]["right"]
        promoted = _pitmirror("promote", "--force", "--config", str(sites.config("right")))
        assert promoted.returncode == 0, promoted.stderr
        assert "group 0: primary in epoch 2" in promoted.stdout
        status = sites.status("right")
        assert status["roles"]["group0"]["epoch"] == 2
        assert status["groups"][0]["role"] == "primary"
        copy = (tmp_path / "right.vol.copy.img").read_bytes()
        assert digest_of(copy, GRAIN) == held["digest"]
        data = os.urandom(GRAIN)
        wrote = request(
            sites.socket("right"),
            {"op": "write", "grain": first + 3, "data": base64.b64encode(data).decode()},
        )
        assert "cycle" in wrote, wrote
        assert (tmp_path / "right.vol.copy.img").read_bytes()[3 * GRAIN : 4 * GRAIN] == data
        demoting = _pitmirror("demote", "--group", "7", "--config", str(sites.config("right")))
        assert demoting.returncode != 0 and "no site of group 7" in demoting.stderr
    with running(sites, "right", "left"):
        assert sites.status("right")["roles"]["group0"]["role"] == "primary"
        left = sites.wait("left", lambda d: d["roles"]["group0"]["role"] == "outdated",
                          what="outdated")  # fmt: skip
        assert left["roles"]["group0"]["peer"]["epoch"] == 2
        with pytest.raises(ControlError, match="outdated"):
            request(
                sites.socket("left"),
                {"op": "write", "grain": first, "data": base64.b64encode(data).decode()},
            )
        again = request(
            sites.socket("right"),
            {"op": "write", "grain": first + 4, "data": base64.b64encode(data).decode()},
        )
        assert "cycle" in again, again
    assert (tmp_path / "right.vol.copy.img").read_bytes()[4 * GRAIN : 5 * GRAIN] == data


def test_the_groups_of_a_bidirectional_pair_fail_over_alone(tmp_path: Path) -> None:
    """Group 0 (home left) is promoted by force at right while left is down; back, left is
    outdated for group 0 only: it refuses the host's writes there, and group 1 (home right)
    goes on mirroring to it over the same link.  Then group 0 fails back alone: its home moves
    to right, and both groups mirror to left."""
    sites = _sites(tmp_path, "bidirectional")
    topo = sites.topology
    with running(sites, "right", "left") as daemons:
        for group, seed in ((0, 7), (1, 8)):
            point = workload(sites, group, 6, seed=seed)
            home = topo.groups[group].home
            sites.wait(home, committed_past(group, point, topo.groups[group].remotes),
                       seconds=60, what=f"group {group} committed")  # fmt: skip
        daemons["left"].kill()
        sites.wait("right", lambda d: not d["link"]["up"], what="link down")
        unnamed = _pitmirror("promote", "--force", "--config", str(sites.config("right")))
        assert unnamed.returncode != 0 and "--group" in unnamed.stderr
        promoted = _pitmirror("promote", "--force", "--group", "0", "--config",
                              str(sites.config("right")))  # fmt: skip
        assert promoted.returncode == 0, promoted.stderr
    with running(sites, "right", "left"):
        left = sites.wait("left", lambda d: d["roles"]["group0"]["role"] == "outdated",
                          what="outdated for group 0")  # fmt: skip
        assert left["roles"]["group1"]["state"] == "secondary"
        with pytest.raises(ControlError, match="outdated"):
            request(
                sites.socket("left"),
                {
                    "op": "write",
                    "grain": topo.first_grain(0),
                    "data": base64.b64encode(bytes(GRAIN)).decode(),
                },
            )
        point = workload(sites, 1, 6, seed=9)
        sites.wait("right", committed_past(1, point, ("left",)), seconds=60,
                   what="group 1 still mirrored to left")  # fmt: skip
    assert sites.target_digest("left", 1) == sites.source_digest(1)
    with running(sites, "right", "left"):  # group 0 fails back alone: both homed at right now
        _turned(sites, "resync", "left")
        for group, seed in ((0, 10), (1, 11)):
            point = 0
            for _ in range(4):
                obj = topo.group_objects(group)[0]
                point = sites.write(topo.first_grain(obj) + seed % 5, os.urandom(GRAIN),
                                    at="right")  # fmt: skip
            sites.wait("right", committed_past(group, point, ("left",)), seconds=60,
                       what=f"group {group} mirrored to left")  # fmt: skip
    for group in (0, 1):
        assert sites.target_digest("left", group) == sites.source_digest(group)


def _turned(sites: Sites, command: str, site: str) -> None:
    """`pitmirror <command> --group 0` at `site`: the pair turns and both daemons start again,
    each in its own process, as the turned sites."""
    before = time.time()
    args = ["--discard-local"] if command == "resync" else []
    turned = _pitmirror(command, *args, "--group", "0", "--config", str(sites.config(site)))
    assert turned.returncode == 0, turned.stderr
    if command == "promote":
        assert "group 0: primary in epoch" in turned.stdout
    else:
        assert "group 0: secondary in epoch" in turned.stdout and "turned" in turned.stdout
    sites.restarted("left", "right", after=before)


def _linked_to_primary(doc: dict[str, Any]) -> bool:
    """An orderly promote asks the primary over the link: both must be up and known first."""
    group = doc["roles"]["group0"]
    peer = group["peer"]
    return (bool(doc["link"]["up"]) and peer is not None and peer["role"] == "primary"
            and peer["epoch"] == group["epoch"])  # fmt: skip


def _copied(sites: Sites, site: str) -> int:
    """The grains the last turn's first point copies, as the daemon at `site` logged them."""
    said = re.findall(r"(\d+) grains to copy from here", (sites.root / f"{site}.log").read_text())
    assert said, "the turn logged no copy set"
    return int(said[-1])


def test_a_group_fails_back_by_resync_and_reverses(tmp_path: Path) -> None:
    """Failback after a forced promote: the old home, outdated, discards its changes with
    `resync --discard-local --group 0`; the group's home moves to the promoted site, whose first
    point copies only what either side changed (its host's writes and the old home's unmirrored
    grains, not the whole object), and the old home holds every write made at the new one.
    Then an orderly `promote --group 0` at the old home (the new home, asked, hands over as
    `reverse` there does: nothing copied but what was not mirrored) turns the group back, and
    the original home mirrors to the other again."""
    sites = Sites(tmp_path, model.topology("single", 24), {"left": free_port(),
                  "right": free_port()}, reversible=True)  # fmt: skip
    first, grains = sites.topology.first_grain(0), sites.topology.objects[0].grains
    with running(sites, "right", "left") as daemons:
        point = workload(sites, 0, 10, seed=11)
        sites.wait("left", committed_past(0, point, ("right",)), seconds=60, what="committed")
        daemons["left"].kill()
        sites.wait("right", lambda d: not d["link"]["up"], what="link down")
        promoted = _pitmirror("promote", "--force", "--config", str(sites.config("right")))
        assert promoted.returncode == 0, promoted.stderr
        for offset in (2, 5, 6):  # the host writes at the promoted site
            sites.write(first + offset, os.urandom(GRAIN), at="right")
    with running(sites, "right", "left"):
        sites.wait("left", lambda d: d["roles"]["group0"]["role"] == "outdated", what="outdated")
        kept = _pitmirror("resync", "--group", "0", "--config", str(sites.config("left")))
        assert kept.returncode != 0 and "--discard-local" in kept.stderr
        _turned(sites, "resync", "left")
        copied = _copied(sites, "right")
        assert 3 <= copied < grains, copied
        assert sites.status("right")["roles"]["group0"]["role"] == "primary"
        assert sites.status("left")["roles"]["group0"]["role"] == "secondary"
        point = 0
        for offset in (1, 7):
            point = sites.write(first + offset, os.urandom(GRAIN), at="right")
        sites.wait("right", committed_past(0, point, ("left",)), seconds=60, what="failed back")
        refused = _pitmirror("reverse", "--group", "0", "--config", str(sites.config("left")))
        assert refused.returncode != 0 and "receiving site" in refused.stderr
    assert sites.target_digest("left", 0) == sites.source_digest(0)
    inspected = _pitmirror("inspect", "--json", "--config", str(sites.config("left")))
    assert inspected.returncode == 0, inspected.stderr
    acting = json.loads(inspected.stdout)  # the site as it acts: the group's remote now
    assert "copy0.delta" in acting["maps"] and "object0.active" not in acting["maps"]
    assert acting["volumes"]["left.vol.copy"].endswith("vol.base.img")
    with running(sites, "right", "left"):  # the orderly promote at the secondary this time
        sites.wait("left", _linked_to_primary, what="linked to the group's primary")
        _turned(sites, "promote", "left")
        assert sites.status("left")["roles"]["group0"]["role"] == "primary"
        point = workload(sites, 0, 6, seed=12)
        sites.wait("left", committed_past(0, point, ("right",)), seconds=60, what="reversed")
    assert sites.target_digest("right", 0) == sites.source_digest(0)
