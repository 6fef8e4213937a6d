"""Benchmark: what mirroring a volume costs, against what users run today and the I/O floor,
side by side in one run.

For each design, round after round, a fresh mirror of two `pitmirror serve` daemons over TCP on
127.0.0.1, every volume a loop device (`losetup --direct-io=on` over a sparse file in `--dir`),
the product's default [cycle] settings, and the host's disk the frontend at the site the host
writes (design A: local and remote; design B: one group of one volume, home and one remote):

  P2  the initial full synchronisation: the source filled with incompressible data before the
      daemons start; timed from their start until the remote holds committed point 1 (and,
      shown too, until both sites are idle: design A drains I2 into T after the commit).
      Baseline: `dd bs=4M iflag=direct oflag=direct conv=fsync` of the same data between two
      loop devices.
  P1  the next committed point after 1 % and 10 % of the volume's 64 KiB grains changed (after
      one untimed point past the initial copy, whose delta design B's remote merges then): the
      grains written through the frontend (O_DIRECT, one fsync at the end; timed apart), then
      timed until the remote holds a point taken after that fsync (and until both are idle).
      The mirror runs while the host writes (it is asynchronous: points are taken and copied
      all along), so the time after the last write is what is still to copy then, not every
      changed grain: the figure a user waits for, and kinder to us than the baselines, which
      start once every change is made.
      Baselines on two image files holding the same data, the same grains changed:
      `rsync --inplace --no-whole-file` (page cache dropped first), and the ideal copy: exactly
      the changed grains read and written once with O_DIRECT, one fsync, between the files
      attached to loop devices as the mirrors' volumes are.  The design's I/O
      floor is the ideal copy times the grain writes the design needs before the point is
      committed (design A: I1 and I2; design B: the home's frozen delta is read and the
      remote's delta written: 1).
      The engine alone, too (no overlap, what the baselines do): in one process on loop volumes,
      the daemons' default windows (up to 256 grains, 4 a tick), the changes made at once, then
      timed until the point holding them all is committed (design B: until its cycle is idle,
      merges included).
  P4  computed, not timed: the grain maps of a 16 M-grain (1 TiB) volume as design A's sites
      keep them, every map holding its own 1 % of the grains at once (bits per grain over all
      maps, by the bytes their roaring containers hold), and the bytes of the journal records
      of one commit with 1 % changed.

Medians of `--runs`; ratios; the goals of issue 28 beside them.  Progress on stderr, the table
on stdout (`--json`: only JSON there, every run included).  Needs root (loop devices, FUSE),
rsync, dd, losetup and /dev/fuse.  Every loop device, mount, daemon and file it makes is taken
away on the way out, also after a failure or Ctrl-C.

    python bench/mirror.py [--runs 3] [--size-mib 2048] [--designs a,b] [--json]
"""

from __future__ import annotations

import argparse
import mmap
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from frontend import (  # noqa: E402  (the sibling bench's daemons and devices)
    FRONTEND,
    GRAIN,
    Mirror,
    attached,
    daemon,
    free_port,
    header,
    progress,
    run_and_print,
    sh,
    sparse,
    wait_status,
    workdir,
)

from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld  # noqa: E402
from pitmirror.harness.designs import Subject  # noqa: E402
from pitmirror.harness.freeze_overlay.world import OverlayWorld  # noqa: E402
from pitmirror.impl.bitmap import GrainMap  # noqa: E402
from pitmirror.impl.cyclic_flashcopy.metadata import LocalMeta, RemoteMeta  # noqa: E402
from pitmirror.impl.cyclic_flashcopy.runner import FlashCopyRunner  # noqa: E402
from pitmirror.impl.freeze_overlay.layout import site_volumes, volume_layout  # noqa: E402
from pitmirror.impl.freeze_overlay.runner import OverlayRunner  # noqa: E402
from pitmirror.impl.journal import Metadata, record_line  # noqa: E402
from pitmirror.model import cyclic_flashcopy as A  # noqa: E402
from pitmirror.model import freeze_overlay as B  # noqa: E402
from pitmirror.model.actions import Action, HostWrite  # noqa: E402
from pitmirror.node.freeze_overlay import groups_toml, topology_of  # noqa: E402

CHANGED = (0.01, 0.10)
FLOOR_MOVES = {"a": 2, "b": 1}
"""grain writes per changed grain before the point is committed (the module's docstring)"""
GOALS = {"P1 vs rsync": 25.0, "P1 vs floor": 1.5, "P2 vs dd": 1.5, "P4 bits": 2.0}
DESIGN_NAMES = {"a": "A: cyclic FlashCopy", "b": "B: freeze + overlay"}
FILL = 64 * 2**20
"""the incompressible pattern the sources are filled with, repeated"""


# ---- data -----------------------------------------------------------------------------------


def fill(path: Path, size: int, seed: int) -> None:
    pattern = random.Random(seed).randbytes(FILL)
    with open(path, "r+b") as f:
        for at in range(0, size, FILL):
            f.write(pattern[: min(FILL, size - at)])
        f.flush()
        os.fsync(f.fileno())


def changed_grains(grains: int, share: float, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(grains), max(1, int(grains * share))))


@contextmanager
def direct(path: str, flags: int = os.O_RDWR) -> Iterator[int]:
    fd = os.open(path, flags | os.O_DIRECT)
    try:
        yield fd
    finally:
        os.close(fd)


def write_grains(path: str, grains: list[int], seed: int) -> None:
    """New data at `grains`, one O_DIRECT write each, one fsync at the end."""
    rng, buf = random.Random(seed), mmap.mmap(-1, GRAIN)
    with direct(path) as fd:
        for g in grains:
            buf[:] = rng.randbytes(GRAIN)
            os.pwritev(fd, [buf], g * GRAIN)
        os.fsync(fd)


def ideal_copy(source: str, target: str, grains: list[int]) -> float:
    """Exactly the changed grains, read and written once with O_DIRECT, one fsync: seconds."""
    buf = mmap.mmap(-1, GRAIN)
    started = time.perf_counter()
    with direct(source, os.O_RDONLY) as src, direct(target) as dst:
        for g in grains:
            os.preadv(src, [buf], g * GRAIN)
            os.pwritev(dst, [buf], g * GRAIN)
        os.fsync(dst)
    return time.perf_counter() - started


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(*command: str) -> float:
    started = time.perf_counter()
    sh(*command, timeout=3600.0)
    return time.perf_counter() - started


# ---- the mirrors ----------------------------------------------------------------------------

Built = tuple[Mirror, dict[str, str]]
"""a mirror's two sites, not started yet, and their configs"""


def devices_for(stack: ExitStack, folder: Path, names: dict[str, int]) -> dict[str, str]:
    """Each volume a sparse file of `names[name]` grains attached to a loop device."""
    return {name: stack.enter_context(attached(sparse(folder / f"{name}.img", count * GRAIN)))
            for name, count in names.items()}  # fmt: skip


def mirror_a(stack: ExitStack, folder: Path, grains: int, seed: int) -> Built:
    folder.mkdir()
    files = {name: grains for name in ("source", "i1", "i2", "target")}
    sparse(folder / "source.img", grains * GRAIN)
    fill(folder / "source.img", grains * GRAIN, seed)
    dev = devices_for(stack, folder, {k: v for k, v in files.items() if k != "source"})
    dev["source"] = stack.enter_context(attached(folder / "source.img"))
    port = free_port()
    design = "cyclic-flashcopy"
    configs = {
        "remote": header(design, "remote", "bench")
        + f'[volumes]\ni2 = "{dev["i2"]}"\ntarget = "{dev["target"]}"\n'
        + f'[link]\nlisten = "127.0.0.1:{port}"\n',
        "local": header(design, "local", "bench")
        + f'[volumes]\nsource = "{dev["source"]}"\ni1 = "{dev["i1"]}"\n'
        + f'[link]\npeer = "127.0.0.1:{port}"\n'
        + FRONTEND,
    }
    return Mirror("a", folder, "local", "remote", 3600.0), configs


def mirror_b(stack: ExitStack, folder: Path, grains: int, seed: int) -> Built:
    folder.mkdir()
    volume = {"name": "vol", "home": "left", "grains": grains}
    table = {"groups": [{"remotes": ["right"], "objects": [volume]}]}
    topology = topology_of(table, folder / "left.toml")
    layout, _ = volume_layout(topology)
    home_base = next(name for name in sorted(site_volumes(topology, "left")) if "base" in name)
    sparse(folder / f"{home_base}.img", layout[home_base] * GRAIN)
    fill(folder / f"{home_base}.img", grains * GRAIN, seed)
    dev = devices_for(stack, folder, {k: v for k, v in layout.items() if k != home_base})
    dev[home_base] = stack.enter_context(attached(folder / f"{home_base}.img"))
    port = free_port()
    links = {"right": f'listen = "127.0.0.1:{port}"\n',
             "left": f'[link.peers]\nright = "127.0.0.1:{port}"\n' + FRONTEND}  # fmt: skip
    configs = {}
    for site, link in links.items():
        volumes = "".join(f'"{v}" = "{dev[v]}"\n' for v in sorted(site_volumes(topology, site)))
        configs[site] = (header("freeze-overlay", site, "bench") + groups_toml(topology)
                         + f"[volumes]\n{volumes}[link]\n{link}")  # fmt: skip
    return Mirror("b", folder, "left", "right", 3600.0), configs


def started(stack: ExitStack, mirror: Mirror, configs: dict[str, str]) -> None:
    secret = random.Random().randbytes(24).hex()
    (mirror.folder / "secret").write_text(secret + "\n")
    for site, text in configs.items():
        (mirror.folder / f"{site}.toml").write_text(text)
    stack.enter_context(daemon(mirror, mirror.remote, frontend=False))
    stack.enter_context(daemon(mirror, mirror.home, frontend=True))
    mirror.device = str(mirror.frontend()["volumes"][0]["device"])


def committed_after(mirror: Mirror, mark: float, number: int = 0) -> float:
    """Seconds until the home's status shows a committed point taken at or after `mark` (wall
    time; with `number`, point `number` or later); BenchError after the mirror's patience."""
    began = time.monotonic()

    def done(doc: dict[str, Any]) -> bool:
        point = doc["committed_point"]
        if number:
            return int(point.get("number") or 0) >= number
        return float(point.get("source_time") or 0) >= mark

    wait_status(mirror.control(mirror.home), done, mirror.patience, f"({mirror.key}) commit")
    return time.monotonic() - began


def idle(mirror: Mirror) -> float:
    began = time.monotonic()

    def remote(doc: dict[str, Any]) -> bool:
        busy = doc["cycle"]["phase"] in ("draining", "merging")
        return not busy and doc["out_of_sync"]["grains"] == 0

    wait_status(mirror.control(mirror.remote), remote, mirror.patience, f"({mirror.key}) idle")
    return time.monotonic() - began


# ---- one round ------------------------------------------------------------------------------


def baselines(root: Path, size: int, seed: int, grains: int) -> dict[str, float]:
    """dd of the whole volume, then per share changed: rsync and the ideal copy."""
    folder = root / "baseline"
    folder.mkdir()
    src, dst = sparse(folder / "src.img", size), sparse(folder / "dst.img", size)
    fill(src, size, seed)
    found: dict[str, float] = {}
    with attached(src) as a, attached(dst) as b:
        found["dd"] = timed("dd", f"if={a}", f"of={b}", "bs=4M", "iflag=direct",
                            "oflag=direct", "conv=fsync", "status=none")  # fmt: skip
    ideal = sparse(folder / "ideal.img", size)
    shutil.copyfile(dst, ideal)
    for share in CHANGED:
        changed = changed_grains(grains, share, seed + int(share * 1000))
        write_grains(str(src), changed, seed)
        drop_caches()
        found[f"rsync {share:.0%}"] = timed("rsync", "--inplace", "--no-whole-file",
                                            str(src), str(dst))  # fmt: skip
        # on loop devices, as the mirrors' volumes are: each I/O pays what theirs pay
        with attached(src) as a, attached(ideal) as b:
            found[f"ideal {share:.0%}"] = ideal_copy(a, b, changed)
    shutil.rmtree(folder)
    return found


def mirror_round(root: Path, key: str, size: int, seed: int) -> dict[str, float]:
    grains = size // GRAIN
    found: dict[str, float] = {}
    with ExitStack() as stack:
        build = mirror_a if key == "a" else mirror_b
        mirror, configs = build(stack, root / f"{key}-{seed}", grains, seed)
        began = time.monotonic()
        started(stack, mirror, configs)
        committed_after(mirror, 0.0, number=1)
        found["initial commit"] = time.monotonic() - began
        found["initial idle"] = found["initial commit"] + idle(mirror)
        # one point more, untimed: design B's remote merges the initial copy's delta (the whole
        # volume) once the next point arrives; P1 is timed from the steady state on
        write_grains(mirror.device, [0], seed)
        committed_after(mirror, time.time())
        idle(mirror)
        for share in CHANGED:
            changed = changed_grains(grains, share, seed + int(share * 1000))
            writing = time.monotonic()
            write_grains(mirror.device, changed, seed)
            found[f"host writes {share:.0%}"] = time.monotonic() - writing
            mark = time.time()
            found[f"next point {share:.0%}"] = committed_after(mirror, mark)
            found[f"next idle {share:.0%}"] = found[f"next point {share:.0%}"] + idle(mirror)
    shutil.rmtree(root / f"{key}-{seed}", ignore_errors=True)
    return found


def engine_round(key: str, grains: int, seed: int) -> dict[str, float]:
    """P1 of the engine alone, in one process on loop volumes (the harness's world, its link in
    memory): the first point copied untimed, then the changes made at once (FUA host writes),
    then timed until the point that holds them all is committed — every changed grain copied
    after the fact, as the baselines copy them."""
    with ExitStack() as stack:
        if key == "a":
            subject = Subject(A.DESIGN, A.Options(), None, grains, GRAIN)
            volumes, work = stack.enter_context(subject.volume_set("loop")).fresh()
            a_world = FlashCopyWorld(volumes, work, A.Options(), self_check=False)
            runner = FlashCopyRunner(a_world.local, a_world.remote, time.monotonic,
                                     a_world.apply, extents_per_tick=4,
                                     max_extent_grains=256)  # fmt: skip
            apply: Callable[[Action], None] = a_world.apply

            def point() -> None:
                while not runner.tick():
                    pass
        else:
            subject = Subject(B.DESIGN, B.Options(), "single", grains, GRAIN)
            volumes, work = stack.enter_context(subject.volume_set("loop")).fresh()
            b_world = OverlayWorld(B.topology("single", grains), volumes, work, B.Options(),
                                   self_check=False)  # fmt: skip
            b_runner = OverlayRunner(b_world.sites, time.monotonic, b_world.apply,
                                     extents_per_tick=4, max_extent_grains=256)  # fmt: skip
            apply = b_world.apply

            def point() -> None:
                b_runner.tick()
                while b_world.cycles[0].current_state_value != "idle":
                    b_runner.tick()

        point()
        found = {}
        for share in CHANGED:
            rng = random.Random(seed)
            for g in changed_grains(grains, share, seed + int(share * 1000)):
                value = rng.randrange(1, 1 << 30)
                apply(HostWrite(g, value))
            began = time.perf_counter()
            point()
            if key == "a":
                point()  # the cycle the writes were made in, then the one that copies them
            found[f"engine point {share:.0%}"] = time.perf_counter() - began
        return found


# ---- P4 -------------------------------------------------------------------------------------


def maps_and_records(grains: int = 1 << 24, share: float = 0.01) -> dict[str, float]:
    """Design A's grain maps at 16 M grains, each holding its own 1 % of the grains at once (the
    worst a cycle with 1 % changed reaches: a copy under way while the host writes the next),
    by the memory their containers hold; and one commit's records."""
    local: Metadata = LocalMeta.initial(grains)
    remote: Metadata = RemoteMeta.initial(grains)
    maps = [v for meta in (local, remote) for v in meta.values() if isinstance(v, GrainMap)]
    initial = sum(m.memory_bytes() for m in maps) * 8 / grains
    for seed, m in enumerate(maps):
        m.clear()
        m.update(changed_grains(grains, share, seed))
    bits = sum(m.memory_bytes() for m in maps) * 8 / grains
    copy = GrainMap(grains, changed_grains(grains, share, 4))
    commit = [RemoteMeta.committed_point(2, copy, 0), LocalMeta.next_cycle(3, copy, 0, 0)]
    record = sum(len(record_line(7, changes)) for changes in commit)
    return {"maps": len(maps), "bits per grain": bits, "bits per grain initially": initial,
            "commit record bytes": record, "changed grains": len(copy)}  # fmt: skip


# ---- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = args.size_mib * 2**20
    rounds: list[dict[str, Any]] = []
    with workdir(args.dir) as root:
        for n in range(args.runs):
            seed = 1000 + n
            progress(f"run {n + 1}: baselines (dd, rsync, ideal copy)")
            found: dict[str, Any] = {"baseline": baselines(root, size, seed, size // GRAIN)}
            for key in args.designs:
                progress(f"run {n + 1}: design {key.upper()}: a new mirror, its initial copy, "
                         "then the changes")  # fmt: skip
                found[key] = mirror_round(root, key, size, seed)
                progress(f"run {n + 1}: design {key.upper()}: the engine alone, in one process")
                found[key] |= engine_round(key, size // GRAIN, seed)
            rounds.append(found)
    return document(args, rounds, maps_and_records())


def median(rounds: list[dict[str, Any]], part: str, key: str) -> float:
    return float(statistics.median(r[part][key] for r in rounds))


def document(args: argparse.Namespace, rounds: list[dict[str, Any]],
             p4: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    here = Path(__file__).parent
    git = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(
        git, capture_output=True, text=True, check=False, cwd=here
    ).stdout.strip()
    doc: dict[str, Any] = {
        "commit": commit or "unknown",
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.platform()}",
        "size_mib": args.size_mib, "runs": rounds, "p4": p4, "goals": GOALS, "designs": {},
        "baseline": {k: median(rounds, "baseline", k) for k in rounds[0]["baseline"]},
    }  # fmt: skip
    base = doc["baseline"]
    for key in args.designs:
        med = {k: median(rounds, key, k) for k in rounds[0][key]}
        ratios = {"P2 vs dd": med["initial commit"] / base["dd"]}
        for share in CHANGED:
            s = f"{share:.0%}"
            ratios[f"P1 {s}: rsync / pitmirror"] = base[f"rsync {s}"] / med[f"next point {s}"]
            floor = base[f"ideal {s}"] * FLOOR_MOVES[key]
            ratios[f"P1 {s}: pitmirror / floor"] = med[f"next point {s}"] / floor
            ratios[f"P1 {s} engine: rsync / pitmirror"] = (
                base[f"rsync {s}"] / med[f"engine point {s}"]
            )
            ratios[f"P1 {s} engine: pitmirror / floor"] = med[f"engine point {s}"] / floor
        doc["designs"][key] = {"medians": med, "ratios": ratios, "floor_moves": FLOOR_MOVES[key]}
    return doc


def table(doc: dict[str, Any]) -> str:
    base = doc["baseline"]
    lines = [f"pitmirror bench/mirror.py at {doc['commit']}, {doc['machine']}",
             f"{doc['size_mib']} MiB volumes, medians of {len(doc['runs'])} runs", "",
             f"baselines: dd {base['dd']:.2f} s; " + "; ".join(
                 f"{s:.0%} changed: rsync {base[f'rsync {s:.0%}']:.2f} s, ideal copy "
                 f"{base[f'ideal {s:.0%}']:.2f} s" for s in CHANGED), ""]  # fmt: skip
    lines.append(f"{'':<22}{'P2 initial':>12}" + "".join(
        f"{f'P1 {s:.0%}':>12}{'rsync/us':>10}{'us/floor':>10}" for s in CHANGED))  # fmt: skip
    for key, design in doc["designs"].items():
        med, ratios = design["medians"], design["ratios"]
        row = f"{DESIGN_NAMES[key]:<22}{med['initial commit']:>10.2f} s"
        for s in CHANGED:
            p = f"{s:.0%}"
            faster = ratios[f"P1 {p}: rsync / pitmirror"]
            row += (f"{med[f'next point {p}']:>10.2f} s{faster:>9.1f}x"
                    f"{ratios[f'P1 {p}: pitmirror / floor']:>9.1f}x")  # fmt: skip
        lines.append(row)
        lines.append(f"{'':<22}{'x dd ' + format(ratios['P2 vs dd'], '.1f'):>12}   (until idle: "
                     f"initial {med['initial idle']:.1f} s, "
                     + ", ".join(f"{s:.0%} {med[f'next idle {s:.0%}']:.2f} s" for s in CHANGED)
                     + "; the host's writes through the frontend: "
                     + ", ".join(f"{s:.0%} {med[f'host writes {s:.0%}']:.2f} s" for s in CHANGED)
                     + ")")  # fmt: skip
        alone = ""
        for s in CHANGED:
            p = f"{s:.0%}"
            alone += (f"{med[f'engine point {p}']:>10.2f} s"
                      f"{ratios[f'P1 {p} engine: rsync / pitmirror']:>9.1f}x"
                      f"{ratios[f'P1 {p} engine: pitmirror / floor']:>9.1f}x")  # fmt: skip
        lines.append(f"{'':<22}{'engine alone':>12}" + alone)
    p4 = doc["p4"]
    lines += ["", f"P4 (design A, 16 M grains, 1 % changed): {p4['maps']:.0f} maps, "
              f"{p4['bits per grain']:.2f} bits per grain with 1 % in every map "
              f"({p4['bits per grain initially']:.4f} initially); one commit's records "
              f"{p4['commit record bytes'] / 2**20:.1f} MiB for {p4['changed grains']:.0f} "
              "changed grains", "",
              "goals: P1 rsync/us >= 25x and us/floor <= 1.5x; P2 <= 1.5x dd; P4 <= 2 bits per "
              "grain, records growing with the grains changed"]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--designs", default="a,b", help="a, b or a,b")
    parser.add_argument("--dir", help="where the volumes' files go (default: the temp folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.designs = [d for d in args.designs.split(",") if d]
    if args.runs < 1 or args.size_mib < 64 or not set(args.designs) <= {"a", "b"}:
        parser.error("--runs at least 1, --size-mib at least 64, --designs of a and b")
    if os.geteuid() != 0:
        print("bench/mirror.py: needs root (loop devices, FUSE); run it as root", file=sys.stderr)
        sys.exit(2)
    missing = [t for t in ("rsync", "dd", "losetup") if not shutil.which(t)]
    if missing or not Path("/dev/fuse").exists():
        print(f"bench/mirror.py: missing {', '.join(missing) or '/dev/fuse'}", file=sys.stderr)
        sys.exit(2)
    run_and_print("bench/mirror.py", run, args, table)


if __name__ == "__main__":
    main()
