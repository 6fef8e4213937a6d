"""Benchmark: the link between two daemons against raw TCP, and the next committed point with the
sites in two processes against one, side by side in one run.

Part 1, the link on loopback: 64 KiB site messages through the product's link (node/transport.py:
banners, the HMAC proof, frames with a CRC-32C, one message in flight, acknowledged once
applied), sent from a thread of their own as the engine sends them, against raw asyncio TCP with
the same frame sizes — one frame in flight answered by a 32-byte acknowledgement (the same
shape, nothing else), and frames streamed without waiting (what the wire allows).

Part 2, the next committed point after 1 % of a 2 GiB volume changed (64 KiB grains), for each
design: the sites as two `pitmirror serve` processes over TCP on loopback, against the same
engine in one process (design A: FlashCopyRunner; design B, one group to one remote:
OverlayRunner; both sites, the in-process link).  Each setup first mirrors the whole volume once
(untimed); then per round the host writes 1 % of the grains at random while the sending site is
held (`pause`; in one process: no ticks), and the time from the release to the committed point
that holds them is measured.

    python bench/transport.py [--runs 3] [--megabytes 256] [--grains 32768] [--design A|B|both]

Medians of the runs; ratios against the baseline.  `--json` for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.harness.loop_thread import free_port
from pitmirror.impl.cyclic_flashcopy.layout import volume_layout
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, MirrorWrite
from pitmirror.impl.cyclic_flashcopy.runner import FlashCopyRunner
from pitmirror.impl.freeze_overlay import layout as overlay_layout
from pitmirror.impl.freeze_overlay.runner import OverlayRunner
from pitmirror.model import freeze_overlay as design_b
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.node.transport import Identity, PeerLink, PeerServer, Timeouts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from daemons import Daemon, Pair, Sites  # noqa: E402

PAYLOAD = 64 * 1024
SECRET = b"bench secret of at least 16 bytes"
HEADER = struct.Struct("<4sHHIQQI")


# ---- part 1: the link ------------------------------------------------------------------------


async def _pitmirror_link(frames: int) -> float:
    identity = {"mirror": "bench", "design": "cyclic-flashcopy", "epoch": 1,
                "geometry": {"grain_size": PAYLOAD, "grains": 1}, "letter": "A"}  # fmt: skip

    async def apply(payload: bytes) -> None:
        return None

    server = PeerServer(Identity(site="remote", peers=("local",), **identity), SECRET, apply,
                        judge=lambda h: None, hello_extra=dict, timeouts=Timeouts())  # fmt: skip
    port = await server.start("127.0.0.1", 0)
    link = PeerLink(Identity(site="local", peers=("remote",), **identity), SECRET, MESSAGES,
                    ("127.0.0.1", port), judge=lambda h: None, hello_extra=dict)  # fmt: skip
    task = asyncio.create_task(link.run())
    while not link.up:
        await asyncio.sleep(0.005)
    message = MirrorWrite(0, os.urandom(PAYLOAD))

    def engine() -> float:
        started = time.perf_counter()
        for _ in range(frames):
            link.send(message)
        return time.perf_counter() - started

    seconds = await asyncio.to_thread(engine)
    await link.stop()
    task.cancel()
    await server.stop()
    return seconds


async def _raw(frames: int, wait_for_ack: bool) -> float:
    frame = HEADER.pack(b"RAW1", 3, 0, PAYLOAD, 1, 0, 0) + os.urandom(PAYLOAD)
    ack = HEADER.pack(b"RAW1", 4, 0, 0, 1, 0, 0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(HEADER.size)
                await reader.readexactly(HEADER.unpack(header)[3])
                if wait_for_ack:
                    writer.write(ack)
                    await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    for _ in range(frames):
        writer.write(frame)
        await writer.drain()
        if wait_for_ack:
            await reader.readexactly(HEADER.size)
    writer.write_eof()
    await reader.read()
    seconds = time.perf_counter() - started
    writer.close()
    server.close()
    return seconds


LINKS: dict[str, Callable[[int], Any]] = {
    "raw TCP, frames streamed": lambda n: _raw(n, wait_for_ack=False),
    "raw TCP, one frame in flight (baseline)": lambda n: _raw(n, wait_for_ack=True),
    "pitmirror link (CRC-32C, one message in flight, from the engine's thread)": _pitmirror_link,
}


# ---- part 2: the next committed point ---------------------------------------------------------


def _one_process(root: Path, grains: int, rounds: int, rng: random.Random) -> list[float]:
    layout = volume_layout(grains)
    times = []
    with VolumeSet("file", grains, PAYLOAD, *layout) as volume_set:
        volumes, workdir = volume_set.fresh()
        world = FlashCopyWorld(volumes, workdir, Options(), self_check=False)
        runner = FlashCopyRunner(world.local, world.remote, time.time, world.apply)
        while world.remote.remote_meta().committed < 1:
            runner.tick()
        for _ in range(rounds):
            cycle = world.local.local_meta().cycle
            for grain in rng.sample(range(grains), grains // 100):
                world.local.host_write(grain, os.urandom(PAYLOAD))
            started = time.perf_counter()
            while world.remote.remote_meta().committed < cycle + 1:
                runner.tick()
            times.append(time.perf_counter() - started)
    return times


def _two_processes(root: Path, grains: int, rounds: int, rng: random.Random) -> list[float]:
    pair = Pair(root, grains, free_port(), source_random=False)
    times = []
    daemons = {site: Daemon(pair, site) for site in ("remote", "local")}
    try:
        pair.wait("remote", lambda d: d["committed_point"]["number"] >= 1, seconds=600,
                  what="the first full copy")  # fmt: skip
        for _ in range(rounds):
            pair.control("local", {"op": "pause"})
            cycle = 0
            for grain in rng.sample(range(grains), grains // 100):
                cycle = pair.write(grain, os.urandom(PAYLOAD))
            started = time.perf_counter()
            pair.control("local", {"op": "resume"})
            while pair.status("remote")["committed_point"]["number"] < cycle + 1:
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return times


def _b_one_process(root: Path, grains: int, rounds: int, rng: random.Random) -> list[float]:
    topology = design_b.topology("single", grains)
    layout, files = overlay_layout.volume_layout(topology)
    times = []
    with VolumeSet("file", grains, PAYLOAD, layout, files) as volume_set:
        volumes, workdir = volume_set.fresh()
        world = OverlayWorld(topology, volumes, workdir, design_b.Options(), self_check=False)
        runner = OverlayRunner(world.sites, time.time, world.apply, extents_per_tick=8)
        while runner.status()[0].committed["right"] < 1:
            runner.tick()
        for _ in range(rounds):
            point = world.sites["left"].group_meta(0).point
            for grain in rng.sample(range(grains), grains // 100):
                world.sites["left"].host_write(grain, os.urandom(PAYLOAD))
            started = time.perf_counter()
            while runner.status()[0].committed["right"] < point + 1:
                runner.tick()
            times.append(time.perf_counter() - started)
    return times


def _b_two_processes(root: Path, grains: int, rounds: int, rng: random.Random) -> list[float]:
    topology = design_b.topology("single", grains)
    sites = Sites(root, topology, {"left": free_port(), "right": free_port()})
    times = []

    def committed() -> int:
        number: int = sites.status("left")["groups"][0]["committed"]["right"]["number"]
        return number

    daemons = {site: Daemon(sites, site) for site in ("right", "left")}
    try:
        sites.wait("left", lambda d: d["groups"][0]["committed"]["right"]["number"] >= 1,
                   seconds=600, what="the first full copy")  # fmt: skip
        for _ in range(rounds):
            sites.control("left", {"op": "pause"})
            point = 0
            for grain in rng.sample(range(grains), grains // 100):
                point = sites.write(grain, os.urandom(PAYLOAD))
            started = time.perf_counter()
            sites.control("left", {"op": "resume"})
            while committed() < point + 1:
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--grains", type=int, default=32_768)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--design", choices=("A", "B", "both"), default="both",
                        help="whose next committed point to measure (the link is measured "
                             "only with both)")  # fmt: skip
    args = parser.parse_args()
    frames = args.megabytes * 1024 * 1024 // PAYLOAD
    link: dict[str, list[float]] = {name: [] for name in LINKS}
    for _ in range(args.runs if args.design == "both" else 0):  # alternating: load from other
        for name, run in LINKS.items():  # jobs falls on all alike
            link[name].append(args.megabytes / asyncio.run(run(frames)))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="pitmirror-bench-") as folder:
        root = Path(folder)
        one = two = b_one = b_two = [float("nan")]
        if args.design in ("A", "both"):
            one = _one_process(root / "one", args.grains, args.runs, rng)
            two = _two_processes(root / "two", args.grains, args.runs, rng)
        if args.design in ("B", "both"):
            b_one = _b_one_process(root / "b-one", args.grains, args.runs, rng)
            b_two = _b_two_processes(root / "b-two", args.grains, args.runs, rng)
    medians = {name: statistics.median(v) if v else float("nan") for name, v in link.items()}
    base = medians["raw TCP, one frame in flight (baseline)"]
    doc = {
        "link_mib_per_second": {
            name: {
                "median": round(m, 1),
                "runs": [round(x, 1) for x in link[name]],
                "ratio": round(m / base, 2),
            }
            for name, m in medians.items()
        },
        "next_committed_point_seconds": {
            "one process (baseline)": {"median": round(statistics.median(one), 3), "runs": one},
            "two processes over TCP": {"median": round(statistics.median(two), 3), "runs": two},
            "ratio": round(statistics.median(two) / statistics.median(one), 2),
            "grains_changed": args.grains // 100,
            "volume_bytes": args.grains * PAYLOAD,
        },
        "design_b_next_committed_point_seconds": {
            "one process (baseline)": {"median": round(statistics.median(b_one), 3),
                                       "runs": b_one},
            "two processes over TCP": {"median": round(statistics.median(b_two), 3),
                                       "runs": b_two},
            "ratio": round(statistics.median(b_two) / statistics.median(b_one), 2),
        },
    }  # fmt: skip
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    size = f"{args.megabytes} MiB of {PAYLOAD // 1024} KiB frames"
    if args.design == "both":
        print(f"link on loopback, {size}, medians of {args.runs}:")
        for name, m in medians.items():
            print(f"  {name:75s} {m:8.1f} MiB/s  {m / base:5.2f}x")
    point = doc["next_committed_point_seconds"]
    print(
        f"next committed point after {args.grains // 100} of {args.grains} grains changed "
        f"({args.grains * PAYLOAD >> 20} MiB volume), medians of {args.runs}:"
    )
    for design, key in (("A", "next_committed_point_seconds"),
                        ("B", "design_b_next_committed_point_seconds")):  # fmt: skip
        if args.design not in (design, "both"):
            continue
        point = doc[key]
        print(f"  design {design}, one process (baseline)   "
              f"{point['one process (baseline)']['median']:8.3f} s")  # fmt: skip
        print(
            f"  design {design}, two processes over TCP   "
            f"{point['two processes over TCP']['median']:8.3f} s  {point['ratio']:.2f}x"
        )


if __name__ == "__main__":
    main()
