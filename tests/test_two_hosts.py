"""Two hosts on one machine: each site's daemon in a network namespace of its own, joined by a
veth pair the test makes (and removes, also when it fails).  The link is cut and restored with
`ip link set down/up` while the host writes; the committed image at the target must equal the
source's image at that point, by digest.  Traffic goes only to the namespaces made here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemons import GRAIN, Daemon, Hosts, Pair, Sites, ip, two_hosts, why_no_hosts

from pitmirror.harness.loop_thread import free_port
from pitmirror.model import freeze_overlay as model


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if (reason := why_no_hosts()) is not None:
        pytest.skip(reason)
    with two_hosts() as made:
        yield made


def test_two_hosts_mirror_through_a_link_cut(hosts: Hosts, tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=64, port=free_port(), listen_host=hosts.remote_ip,
                peer_host=hosts.remote_ip)  # fmt: skip
    daemons = {
        "remote": Daemon(pair, "remote", wrap=["ip", "netns", "exec", hosts.remote_ns]),
        "local": Daemon(pair, "local", wrap=["ip", "netns", "exec", hosts.local_ns]),
    }
    try:
        local = pair.wait("local", lambda d: d["link"]["up"], what="the link up")
        assert local["peers"][0]["address"] == f"{hosts.remote_ip}:{pair.port}"
        pair.wait("remote", lambda d: d["committed_point"]["number"] >= 1, what="point 1")
        ip("-n", hosts.local_ns, "link", "set", hosts.local_veth, "down")
        try:
            pair.wait("local", lambda d: not d["link"]["up"], what="the link down")
            for grain in (5, 6, 30):
                pair.write(grain, os.urandom(GRAIN))
            pair.wait("local", lambda d: d["out_of_sync"]["grains"] >= 3, what="out of sync")
        finally:
            ip("-n", hosts.local_ns, "link", "set", hosts.local_veth, "up")
        pair.wait("local", lambda d: d["link"]["up"], what="the link up again")
        cycle = pair.write(9, os.urandom(GRAIN))
        remote = pair.wait("remote", lambda d: d["committed_point"]["number"] >= cycle + 1,
                           what=f"point {cycle + 1}")  # fmt: skip
        for daemon in daemons.values():
            assert daemon.stop() == 0
    finally:
        for daemon in daemons.values():
            daemon.stop()
    assert remote["committed_point"]["digest"] == pair.target_digest() == pair.source_digest()
    assert remote["peers"][0]["address"].startswith(hosts.local_ip)


def test_two_hosts_mirror_design_b_through_a_link_cut(hosts: Hosts, tmp_path: Path) -> None:
    ports = {"left": free_port(), "right": free_port()}
    sites = Sites(tmp_path, model.topology("single", 32), ports,
                  {"left": hosts.local_ip, "right": hosts.remote_ip})  # fmt: skip
    daemons = {
        "right": Daemon(sites, "right", wrap=["ip", "netns", "exec", hosts.remote_ns]),
        "left": Daemon(sites, "left", wrap=["ip", "netns", "exec", hosts.local_ns]),
    }

    def committed(doc: dict[str, Any]) -> int:
        number: int = doc["groups"][0]["committed"]["right"]["number"]
        return number

    try:
        sites.wait("left", lambda d: d["link"]["up"] and committed(d) >= 1, what="point 1")
        ip("-n", hosts.local_ns, "link", "set", hosts.local_veth, "down")
        try:
            sites.wait("left", lambda d: not d["link"]["up"], what="the link down")
            for grain in (5, 6, 30):
                sites.write(grain, os.urandom(GRAIN))
            sites.wait("left", lambda d: d["out_of_sync"]["grains"] >= 3, what="out of sync")
        finally:
            ip("-n", hosts.local_ns, "link", "set", hosts.local_veth, "up")
        sites.wait("left", lambda d: d["link"]["up"], what="the link up again")
        point = sites.write(9, os.urandom(GRAIN))
        sites.wait("left", lambda d: committed(d) >= point + 1, what=f"point {point + 1}")
        docs = sites.settle()
        for daemon in daemons.values():
            assert daemon.stop() == 0
    finally:
        for daemon in daemons.values():
            daemon.stop()
    right = docs["right"]["committed_point"]
    assert right["digest"] == sites.source_digest(0) == sites.target_digest("right", 0)
    assert docs["left"]["groups"][0]["committed"]["right"]["digest"] == right["digest"]
    assert docs["right"]["peers"][0]["address"].startswith(hosts.local_ip)
