"""The roles' lockstep in two processes: a design's pair as two daemons
(harness/roles_site.py: the product's daemon, stepped), each in a process of its own, their
link through a fault proxy per direction, stepped by the roles model's actions
(harness/roles_lockstep.py compares them after each, as it does the one-process world).

The commands go to the daemons as the CLI sends them — `promote --force`, `demote`,
`resync --discard-local`, and `reverse` at the demoted primary for the model's orderly promote
(the pair turns in their HELLOs) — and the daemons start again by themselves once a pair turned
(the same process, executed anew).  The host's writes go to the host door of the
daemon; `LinkDown`/`LinkUp` are both proxies' cut and restore; `CrashSite` is a SIGKILL (after
n steps: one the daemon sends itself right after its command's n-th durable step), `Recover`
starts the daemon again from its state folder.  A commit ticks the site that sends (and, in
design B, the remote after it) until the design says a point holding every write is committed;
a drain is a request to the target.  After each action the world waits until the daemons are
where the model is: every link down that the model has down, and, where it has them linked,
each daemon met the other's HELLO (and the link up when their records let them mirror).

Refused here as in the one-process world, before the daemons are asked: what a daemon answers
only by waiting (an orderly promote that is not synchronized waits at the primary until it is;
a resync the primary cannot take waits for its answer), and an armed crash that would cut the
design's own actions or a resync's or switch's turns (`Uncut`).  The roles' safe options only:
the mutants run in the one-process world, whose daemons' code is the same.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pitmirror.harness.design import Design
from pitmirror.harness.fault_proxy import FaultProxy
from pitmirror.harness.grains import grain_bytes
from pitmirror.harness.lockstep import StepOutcome
from pitmirror.harness.loop_thread import free_port
from pitmirror.harness.roles_actions import RolesActions
from pitmirror.harness.roles_lockstep import RolesLockstep, run_roles
from pitmirror.harness.roles_world import CYCLE_TICKS, HostView, stored_record
from pitmirror.impl.roles import PRIMARY, RoleRecord, why_apart
from pitmirror.impl.site import EngineInvariantBroken, EngineRefused
from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CrashSite,
    Demote,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Promote,
    Recover,
    Resync,
)
from pitmirror.model.roles import Options
from pitmirror.node.control import ControlError, request

GRAIN_SIZE = 4096
GRAINS = 3
SETTLE_SECONDS = 30.0
"""the longest a daemon may take to start, to meet its peer, or to see its link go"""
CHILD = "pitmirror.harness.roles_site"
SHORT_TMP = 40
"""a temporary folder this long or shorter leaves room for a socket's name (107 bytes in all)"""


class HostProcess:
    """One host's daemon: its config, state folder and, while up, its process."""

    def __init__(self, name: str, first: bool, config: Path, state_dir: Path,
                 socket: Path) -> None:  # fmt: skip
        self.name, self.first, self.config, self.state_dir = name, first, config, state_dir
        self.socket = socket
        self.log = config.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    @property
    def up(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", CHILD, "--config", str(self.config)],
                stderr=log, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        self.wait_started(after=0.0)

    def wait_started(self, after: float) -> None:
        """The daemon answers, started after `after` (a turned daemon starts again)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            with contextlib.suppress(ControlError, OSError):
                started = float(request(self.socket, {"op": "status"}, timeout=5)["started"])
                if started > after:
                    self.started = started
                    return
            if not self.up or time.monotonic() > deadline:
                said = self.log.read_text()[-3000:]
                raise RuntimeError(f"the {self.name} daemon did not start: {said}")
            time.sleep(0.02)

    def control(self, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        return request(self.socket, body, timeout=timeout)

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(30)
        self.process = None

    def died(self) -> bool:
        """The process ended by itself (an armed crash fired): it is let go."""
        if self.process is None:
            return False
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(SETTLE_SECONDS)
        if self.process.poll() is None:
            return False
        self.process = None
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self.process = None


class RolesProcessWorld(RolesActions[HostProcess]):
    """A design's pair on two daemons, stepped by the roles model's actions; files under
    `workdir` (volumes, configs, state folders, the daemons' logs)."""

    def __init__(self, design: Design, grains: int, workdir: Path) -> None:
        plan = design.roles_hosts(grains)
        self.grains, self.pair, self.first = grains, plan.pair, plan.first
        self.ticks_target, self.after_a_point = plan.probe.ticks_target, plan.probe.after_a_point
        self.options = Options()
        self.link_up = True
        self.armed: tuple[str, int] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        # the control sockets where their paths are short enough for a unix socket (a test's
        # temporary folder may be too deep)
        short = len(os.fsencode(tempfile.gettempdir())) <= SHORT_TMP
        self.sockets = Path(tempfile.mkdtemp(prefix="pm-", dir=None if short else "/tmp"))
        (workdir / "secret").write_text(base64.b64encode(os.urandom(24)).decode() + "\n")
        listen = {site: free_port() for site in plan.sites}
        self.proxies = {site: FaultProxy(("127.0.0.1", port)) for site, port in listen.items()}
        self.hosts: dict[str, HostProcess] = {}
        try:
            for proxy in self.proxies.values():
                proxy.start()
            for i, site in enumerate(plan.sites):
                # its one peer, whichever site a turn makes either of them act as
                peer = f"127.0.0.1:{self.proxies[plan.sites[1 - i]].port}"
                volumes = []
                for name, count in plan.volumes[site].items():
                    with open(workdir / f"{site}.{name}.img", "wb") as f:
                        f.truncate(count * GRAIN_SIZE)
                    volumes.append(f'"{name}" = "{site}.{name}.img"')
                config = workdir / f"{site}.toml"
                config.write_text(
                    f'design = "{design.name}"\nsite = "{site}"\nstate_dir = "state-{site}"\n'
                    f'grain_size = {GRAIN_SIZE}\nmirror = "roles"\nsecret_file = "secret"\n'
                    f"{plan.header}[volumes]\n" + "\n".join(volumes) + "\n"
                    f'[link]\nlisten = "127.0.0.1:{listen[site]}"\npeer = "{peer}"\n'
                    "heartbeat_seconds = 0.2\ndead_seconds = 1.0\n[cycle]\nidle_seconds = 0.01\n"
                    f'[status]\nsocket = "{self.sockets / site}.sock"\n'
                )  # fmt: skip
                self.hosts[site] = HostProcess(site, i == 0, config, workdir / f"state-{site}",
                                               self.sockets / f"{site}.sock")  # fmt: skip
            self.begin()
        except BaseException:
            self.close()
            raise

    def begin(self) -> None:
        """Both daemons started and met, and the first full copy made: where the model
        starts, both images equal and committed."""
        for host in self.hosts.values():
            host.start()
        self.settle({})
        self.commit_all()
        self.drain(range(self.grains))

    def close(self) -> None:
        for host in self.hosts.values():
            host.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        shutil.rmtree(self.sockets, ignore_errors=True)

    # ---- what the lockstep compares ----------------------------------------------------------

    def view(self, host: HostProcess) -> dict[str, Any]:
        return host.control({"op": "view"})

    def views(self) -> dict[str, HostView]:
        found = {}
        for name, host in self.hosts.items():
            if not host.up:
                found[name] = HostView(
                    False, stored_record(host.state_dir, self.pair, host.first), (), frozenset(), ()
                )
                continue
            seen = self.view(host)
            found[name] = HostView(True, RoleRecord.from_json(seen["record"], name),
                                   tuple(seen["image"]), frozenset(seen["pending"]),
                                   tuple(seen["recovered"]))  # fmt: skip
        return found

    def records(self) -> dict[str, RoleRecord]:
        return {name: view.record for name, view in self.views().items()}

    def source(self) -> HostProcess:
        """The host that sends: its record says it acts as the local site (design B: the
        group's home), or, before any turn, the first host."""
        records = self.records()
        for name, record in records.items():
            if record.acting == "local":
                return self.hosts[name]
        for name, record in records.items():
            if record.acting == "remote":
                return self.other(self.hosts[name])
        return self.hosts[self.sites[0]]

    def target(self) -> HostProcess:
        return self.other(self.source())

    # ---- waiting until the daemons are where the model is ------------------------------------

    def _link(self, host: HostProcess) -> dict[str, Any]:
        return host.control({"op": "link"})

    def meets(self) -> dict[str, int]:
        return {name: int(self._link(h)["meets"]) for name, h in self.hosts.items() if h.up}

    def settle(self, before: dict[str, int] | None) -> None:
        """Each daemon where the model has it: linked, each met the other's HELLO since
        `before` (its meetings then; None: the link did not change) and the link up when their
        records let them mirror; otherwise every link of a daemon that is up seen down."""
        deadline = time.monotonic() + SETTLE_SECONDS
        up = [h for h in self.hosts.values() if h.up]
        while True:
            links = {h.name: self._link(h) for h in up}
            if self.linked():
                met = before is None or all(links[n]["meets"] > before.get(n, 0) for n in links)
                first, second = (RoleRecord.from_json(link["record"], name)
                                 for name, link in links.items())  # fmt: skip
                ready = met and (why_apart(first, second) is not None
                                 or all(link["up"] for link in links.values()))  # fmt: skip
            else:
                ready = all(link["down"] for link in links.values())
            if ready:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemons did not settle within {SETTLE_SECONDS:g} s "
                                   f"(linked: {self.linked()}): {links}")  # fmt: skip
            time.sleep(0.01)

    def restarted(self, *hosts: HostProcess) -> None:
        """A turned pair: each daemon started again by itself, and they met."""
        for host in hosts:
            host.wait_started(after=host.started)
        self.settle({})

    # ---- the cycle ---------------------------------------------------------------------------

    def _engine(self, host: HostProcess, body: dict[str, Any]) -> Any:
        answer = host.control(body)
        if "refused" in answer:
            raise EngineRefused(str(answer["refused"]))
        if "broken" in answer:
            raise EngineInvariantBroken(str(answer["broken"]))
        return answer.get("result")

    def commit_all(self) -> None:
        source, target = self.source(), self.target()

        def committed() -> bool:
            return bool(source.control({"op": "committed"})["committed"])

        for _ in range(CYCLE_TICKS):
            if not self.after_a_point and committed():
                return
            ticked = self._engine(source, {"op": "tick", "source": True})
            if self.after_a_point and ticked["took"] and committed():
                return
            if not ticked["busy"] and self.ticks_target:
                self._engine(target, {"op": "tick"})
        raise EngineInvariantBroken(f"the cycle did not commit within {CYCLE_TICKS} ticks")

    def drain(self, extent: range) -> None:
        self._engine(self.target(), {"op": "drain", "grain": extent.start,
                                     "count": len(extent)})  # fmt: skip

    # ---- the actions, as the daemons take them -----------------------------------------------

    def apply(self, action: Action) -> None:
        before = self.meets() if isinstance(action, LinkUp | Recover) else None
        super().apply(action)
        self.settle(before)

    def sends(self, host: HostProcess) -> bool:
        return bool(self.view(host)["sends"])

    def synchronized(self, host: HostProcess) -> bool:
        return bool(self.view(host)["synchronized"])

    def draining(self, host: HostProcess) -> bool:
        return bool(self.view(host)["draining"])

    def host_write(self, host: HostProcess, action: HostWrite) -> None:
        if self.armed is not None and self.armed[0] == host.name:
            seen = self.view(host)
            if seen["refusal"] is None and seen["sends"]:
                self.refuse_uncut(host)  # the design's own writes: its power-loss exploration
        data = grain_bytes(action.data, action.grain, GRAIN_SIZE)
        body = {"op": "write", "grain": self.first + action.grain,
                "data": base64.b64encode(data).decode()}  # fmt: skip
        self._command(host, body)

    def force_promote(self, host: HostProcess) -> None:
        self._command(host, {"op": "promote", "force": True})

    def demote(self, host: HostProcess) -> None:
        self._command(host, {"op": "demote"})

    def switch(self, host: HostProcess, peer: HostProcess, demoted: RoleRecord) -> None:
        """`reverse` at the demoted primary, which asks this site to take over in its HELLO.
        (`promote` at the secondary asks a primary that is not demoted yet to do the same:
        the model's Demote, then this.)"""
        self._command(peer, {"op": "reverse"})
        self.restarted(host, peer)
        record = self.records()[host.name]
        if record.role != PRIMARY or record.epoch <= demoted.epoch:
            raise RuntimeError(f"the {host.name} site asked for the switch and is {record}")

    def resync(self, host: HostProcess, peer: HostProcess) -> None:
        self._command(host, {"op": "resync", "discard_local": True})
        self.restarted(host, peer)

    def link(self, up: bool) -> None:
        self.link_up = up
        for proxy in self.proxies.values():
            if up:
                proxy.restore()
            else:
                proxy.cut()

    def crash(self, host: HostProcess) -> None:
        host.kill()

    def arm(self, host: HostProcess, after: int) -> None:
        host.control({"op": "arm", "after": after})
        self.armed = (host.name, after)

    def recover(self, host: HostProcess) -> None:
        host.start()
        if self.armed is not None and self.armed[0] == host.name:
            self.arm(host, self.armed[1])  # the model's armed crash outlives the process

    def _command(self, host: HostProcess, body: dict[str, Any]) -> None:
        """A command at `host` as the CLI sends it: refused in the daemon's words, or cut by an
        armed crash (the host is down then, as the model has it)."""
        try:
            host.control(body)
        except (ControlError, OSError) as err:
            if self.armed is not None and self.armed[0] == host.name and host.died():
                self.armed = None
                return
            if isinstance(err, ControlError):
                raise EngineRefused(str(err)) from None
            raise
        if self.armed is not None and self.armed[0] == host.name:
            left = self._link(host)["armed"]
            self.armed = None if left is None else (host.name, int(left))


def round_trip(first: str, second: str) -> list[Action]:
    """Every command of the roles once at least, on the pair's two sites: forced promotes
    with the link cut, a split brain made on purpose and resolved by a resync, the roles
    switched back in order, a crash and a restart, and a demote cut by a crash after its
    record."""
    return [
        HostWrite(0, 1, site=first), CommitPoint(), DrainTarget(0, GRAINS),
        LinkDown(), Promote(second, force=True), HostWrite(1, 2, site=second),
        Demote(first), Promote(first, force=True), HostWrite(2, 2, site=first),
        LinkUp(),  # they meet: both promoted on their own, a split brain at both
        Resync(second),  # the older epoch's side discarded (both split, it is outdated too)
        HostWrite(2, 1, site=first), CommitPoint(), DrainTarget(0, GRAINS),
        Demote(first), Promote(second),
        HostWrite(1, 1, site=second), CommitPoint(),
        CrashSite(first), Recover(first), CommitPoint(), DrainTarget(0, GRAINS),
        CrashSite(second, 1), Demote(second), Recover(second), Promote(first),
    ]  # fmt: skip


def round_trip_outcomes(design: Design, workdir: Path) -> list[StepOutcome]:
    """`round_trip` on the design's two daemons, in lockstep with the roles model."""
    world = RolesProcessWorld(design, GRAINS, workdir)
    try:
        return run_roles(RolesLockstep(world), round_trip(*world.sites))
    finally:
        world.close()


CUT_PLANS = ("forced promote", "demote", "host write at a promoted copy")
"""the commands both worlds cut after each step"""
SWITCH_CUT_PLANS = ("orderly switch, at the secondary", "orderly switch, at the old primary")
"""the commands only the one-process world cuts (the daemons' switch cut: `Uncut`)"""


def cut_plan(name: str, first: str, second: str) -> tuple[list[Action], str, Action, int]:
    """A command whose steps are durable records, and what comes before it: the actions before
    it, the site it runs at, the command and its count of steps (node/turns.py)."""
    synchronized: list[Action] = [HostWrite(0, 1, site=first), CommitPoint(),
                                  DrainTarget(0, GRAINS), Demote(first)]  # fmt: skip
    plans: dict[str, tuple[list[Action], str, Action, int]] = {
        "forced promote": ([HostWrite(0, 1, site=first), CommitPoint(), DrainTarget(0, GRAINS),
                            LinkDown()], second, Promote(second, force=True), 3),
        "demote": ([HostWrite(0, 1, site=first)], first, Demote(first), 1),
        "host write at a promoted copy": ([LinkDown(), Promote(second, force=True)], second,
                                          HostWrite(1, 2, site=second), 2),
        "orderly switch, at the secondary": (synchronized, second, Promote(second), 3),
        "orderly switch, at the old primary": (synchronized, first, Promote(second), 1),
    }  # fmt: skip
    return plans[name]


def cut_outcomes(lockstep: RolesLockstep, name: str, after: int) -> list[StepOutcome]:
    """`name`'s command cut by a power loss after its `after`-th durable step, at the site it
    runs at; then the site recovered, the link restored and the pair mended as far as the
    model lets it (a resync of either side, a commit, a drain), in lockstep all along."""
    first, second = lockstep.world.sites
    before, site, command, _ = cut_plan(name, first, second)
    mend: list[Action] = [Recover(site), LinkUp(), Resync(first), Resync(second),
                          Promote(second), CommitPoint(), DrainTarget(0, GRAINS)]  # fmt: skip
    outcomes = run_roles(lockstep, [*before, CrashSite(site, after), command])
    for action in mend:
        if not outcomes[-1].ok:
            break
        if lockstep.model.why_disabled(action) is None:
            outcomes.append(lockstep.apply(action))
    return outcomes


def cut_runs(design: Design, workdir: Path) -> list[tuple[str, int, StepOutcome]]:
    """Every plan of `CUT_PLANS` cut after each of its steps on the design's two daemons: the
    plan's name, the step, and the last outcome."""
    found = []
    first, second = design.roles_hosts(GRAINS).sites
    runs = [(name, after) for name in CUT_PLANS
            for after in range(1, cut_plan(name, first, second)[3] + 1)]  # fmt: skip
    for i, (name, after) in enumerate(runs):
        world = RolesProcessWorld(design, GRAINS, workdir / str(i))  # short: a socket's path
        try:
            found.append((name, after, cut_outcomes(RolesLockstep(world), name, after)[-1]))
        finally:
            world.close()
    return found
