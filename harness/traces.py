"""Trace files (`traces/*.jsonl`): a header line, then one action per line.

Header: `{"trace": 2, "design": ..., "options": {...}, "grains": n, "grain_size": b, "why": ...,
"expect": "pass" | "violation"}`, and for a violation `"violates": "<predicate>"`.  Reading is
strict and every problem names the file and line: a trace that cannot be trusted is rejected
before anything runs.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.harness.designs import DESIGNS, design_named
from pitmirror.harness.transport_mutants import TRANSPORTS, transport_mutant
from pitmirror.model.actions import Action, TraceFormatError, action_from_json, action_to_json
from pitmirror.model.options import DesignOptions
from pitmirror.model.roles import Options as RolesOptions

TRACE_VERSION = 2
"""2: background actions may carry `count` (extents).  Format 1 had no extents and reads as it
always did; a format-1 trace with a `count` is refused."""
READABLE_VERSIONS = (1, 2)
EXPECTS = ("pass", "violation", "divergence")
"""divergence: a transport mutant's trace, where the engine over the network parts from the
model (the model itself is the safe design's)"""
MAX_GRAINS = 1 << 20
MAX_TRACE_BYTES = 64 << 20
UNCURATED = "failures"
_REQUIRED = ("trace", "design", "grains", "grain_size", "why", "expect")
_OPTIONAL = ("options", "violates", "topology", "power_loss", "transport", "roles")

FATE_KINDS = ("lost", "whole", "zeros", "sectors", "prefix")


@dataclass
class Trace:
    design: str
    grains: int
    grain_size: int
    why: str
    actions: list[Action]
    options: DesignOptions | None = None  # None: the design's safe defaults
    expect: str = "pass"
    violates: str | None = None
    topology: str | None = None
    """where the design has topologies: its name; `grains` is then per object"""
    transport: str | None = None
    """tcp or tcp:<transport mutant>: the remote site in a child process over TCP"""
    power_loss: dict[str, Any] | None = None
    """a crash state to replay (`pitmirror power-loss`): the step and site the power went at, just
    after which write of the site (null: after the step), the fate of each write in flight and
    the order they reached the media in"""
    roles: RolesOptions | None = None
    """a trace of the roles' commands (model/roles.py) on the design's engine, under these
    roles options (harness/roles_lockstep.py)"""

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = design_named(self.design).model.options({})

    @property
    def resolved_options(self) -> DesignOptions:
        assert self.options is not None
        return self.options

    @property
    def address_space(self) -> int:
        """How many grains an action may name."""
        return design_named(self.design).model.address_space(self.topology, self.grains)

    def header(self) -> dict[str, Any]:
        head: dict[str, Any] = {
            "trace": TRACE_VERSION,
            "design": self.design,
            "options": self.resolved_options.non_default(),
            "grains": self.grains,
            "grain_size": self.grain_size,
            "why": self.why,
            "expect": self.expect,
        }
        if self.violates:
            head["violates"] = self.violates
        if self.topology is not None:
            head["topology"] = self.topology
        if self.power_loss is not None:
            head["power_loss"] = self.power_loss
        if self.transport is not None:
            head["transport"] = self.transport
        if self.roles is not None:
            head["roles"] = self.roles.non_default()
        return head


def _header(obj: Any, where: str) -> Trace:
    if not isinstance(obj, dict):
        raise TraceFormatError(f"{where}: the header must be a JSON object")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise TraceFormatError(f"{where}: the header lacks {', '.join(missing)}")
    unknown = set(obj) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise TraceFormatError(f"{where}: unknown header field(s) {', '.join(sorted(unknown))}")
    if obj["trace"] not in READABLE_VERSIONS or isinstance(obj["trace"], bool):
        known = " or ".join(map(str, READABLE_VERSIONS))
        raise TraceFormatError(f"{where}: trace format {obj['trace']!r} is not {known}")
    if obj["design"] not in DESIGNS:
        known = ", ".join(DESIGNS)
        raise TraceFormatError(f"{where}: unknown design {obj['design']!r} (known: {known})")
    model = DESIGNS[obj["design"]].model
    for key, low, high in (("grains", 1, MAX_GRAINS), ("grain_size", 512, 1 << 24)):
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise TraceFormatError(f"{where}: {key} must be an integer in {low}..{high}")
    if obj["grain_size"] % 512:
        raise TraceFormatError(f"{where}: grain_size must be a multiple of 512")
    if obj["expect"] not in EXPECTS:
        raise TraceFormatError(f"{where}: expect must be one of {EXPECTS}")
    if obj["expect"] == "violation" and not isinstance(obj.get("violates"), str):
        raise TraceFormatError(f"{where}: a violation trace must name the predicate in 'violates'")
    options = obj.get("options", {})
    if not isinstance(options, dict):
        raise TraceFormatError(f"{where}: options must be a JSON object")
    try:
        parsed = model.options(options)
    except (TypeError, ValueError) as err:
        raise TraceFormatError(f"{where}: {err}") from err
    topology = obj.get("topology")
    if model.topologies and topology not in model.topologies:
        known = ", ".join(model.topologies)
        raise TraceFormatError(f"{where}: a {model.name} trace names its topology ({known})")
    if not model.topologies and topology is not None:
        raise TraceFormatError(f"{where}: a {model.name} trace has no topology")
    power_loss = obj.get("power_loss")
    if power_loss is not None:
        _check_power_loss(power_loss, where)
    transport = obj.get("transport")
    if transport is not None and transport not in TRANSPORTS:
        raise TraceFormatError(f"{where}: unknown transport {transport!r} (known: "
                               f"{', '.join(TRANSPORTS)})")  # fmt: skip
    if (obj["expect"] == "divergence") != (transport_mutant(transport) is not None):
        raise TraceFormatError(f"{where}: a transport mutant's trace, and only one, expects a "
                               "divergence")  # fmt: skip
    roles = _roles(obj, where)
    return Trace(
        design=obj["design"],
        grains=obj["grains"],
        grain_size=obj["grain_size"],
        why=str(obj["why"]),
        actions=[],
        options=parsed,
        expect=obj["expect"],
        violates=obj.get("violates"),
        topology=topology,
        power_loss=power_loss,
        transport=transport,
        roles=roles,
    )


def _roles(obj: dict[str, Any], where: str) -> RolesOptions | None:
    """A roles trace's options: flags of model/roles.py (every design's engine runs them:
    harness/<design>/roles_world.py, of design B's topology single)."""
    raw = obj.get("roles")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, bool) for v in raw.values()):
        raise TraceFormatError(f"{where}: roles must be a JSON object of true/false options")
    if any(obj.get(k) is not None for k in ("power_loss", "transport")):
        raise TraceFormatError(f"{where}: a roles trace has no power loss or transport")
    if obj.get("topology") not in (None, "single"):
        raise TraceFormatError(f"{where}: a roles trace of design B is of topology single")
    try:
        return RolesOptions.from_json(raw)
    except ValueError as err:
        raise TraceFormatError(f"{where}: roles: {err}") from err


def _is_count(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_power_loss(obj: Any, where: str) -> None:
    bad = f"{where}: power_loss"
    keys = {"step", "site", "after_writes", "fates", "order"}
    if not isinstance(obj, dict) or not keys <= set(obj) <= keys | {"after_plan_writes"}:
        raise TraceFormatError(
            f"{bad} must hold step, site, after_writes, fates and order (and may hold "
            "after_plan_writes)"
        )
    if not _is_count(obj["step"], 1) or not isinstance(obj["site"], str):
        raise TraceFormatError(f"{bad}: step must be a positive integer and site a name")
    if obj["after_writes"] is not None and not _is_count(obj["after_writes"], 1):
        raise TraceFormatError(f"{bad}: after_writes must be a positive integer or null")
    if "after_plan_writes" in obj and not _is_count(obj["after_plan_writes"], 1):
        raise TraceFormatError(f"{bad}: after_plan_writes must be a positive integer")
    fates = obj["fates"]
    if not isinstance(fates, list):
        raise TraceFormatError(f"{bad}: fates must be a list")
    for fate in fates:
        if (
            not isinstance(fate, dict)
            or set(fate) != {"kind", "sectors", "prefix"}
            or fate["kind"] not in FATE_KINDS
            or not isinstance(fate["sectors"], list)
            or not all(_is_count(s) for s in fate["sectors"])
            or not _is_count(fate["prefix"])
        ):
            raise TraceFormatError(
                f"{bad}: a fate is {{kind: one of {', '.join(FATE_KINDS)}, sectors: [...], "
                f"prefix: n}}, not {fate!r}"
            )
    if sorted(obj["order"]) != list(range(len(fates))):
        raise TraceFormatError(f"{bad}: order must list each write in flight once")


def parse_trace(text: str, name: str = "<trace>") -> Trace:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise TraceFormatError(f"{name}: the trace is empty")
    parsed: list[tuple[int, Any]] = []
    for n, line in lines:
        try:
            parsed.append((n, json.loads(line)))
        except json.JSONDecodeError as err:
            raise TraceFormatError(f"{name}:{n}: not JSON ({err.msg})") from err
    trace = _header(parsed[0][1], f"{name}:{parsed[0][0]}")
    version = parsed[0][1]["trace"]
    for n, obj in parsed[1:]:
        try:
            action = action_from_json(obj)
        except TraceFormatError as err:
            raise TraceFormatError(f"{name}:{n}: {err}") from err
        if version == 1 and "count" in obj:
            raise TraceFormatError(f"{name}:{n}: an extent (count) needs trace format 2")
        grain, count = getattr(action, "grain", None), getattr(action, "count", 1)
        if grain is not None and grain + max(count, 1) > trace.address_space:
            raise TraceFormatError(
                f"{name}:{n}: grain {grain}{f'+{count}' if count > 1 else ''} is outside the "
                f"{trace.address_space}-grain volume"
            )
        trace.actions.append(action)
    if not trace.actions:
        raise TraceFormatError(f"{name}: the trace has a header and no actions: nothing to run")
    return trace


def read_trace(path: Path) -> Trace:
    """A trace file, read with a size bound: a device or a runaway file is refused, not read."""
    try:
        with path.open("rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise TraceFormatError(f"{path}: not a regular file")
            data = file.read(MAX_TRACE_BYTES + 1)
        if len(data) > MAX_TRACE_BYTES:
            raise TraceFormatError(f"{path}: larger than {MAX_TRACE_BYTES >> 20} MiB")
        text = data.decode()
    except (OSError, UnicodeDecodeError) as err:
        raise TraceFormatError(f"{path}: cannot read the trace ({err})") from err
    return parse_trace(text, str(path))


def dump_trace(trace: Trace) -> str:
    lines = [json.dumps(trace.header())]
    lines += [json.dumps(action_to_json(a)) for a in trace.actions]
    return "\n".join(lines) + "\n"


def write_trace(path: Path, trace: Trace) -> None:
    """Write atomically: a reader never sees half a trace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dump_trace(trace))
    tmp.replace(path)


@dataclass(frozen=True)
class Saved:
    """Where a finding was saved, or why it could not be and its trace's text to print
    instead (whole lines, never wrapped: it replays when copied to a file)."""

    path: Path | None
    error: str | None = None
    text: str = ""


def findings_dir(start: Path | None = None) -> Path:
    """Where findings are saved unless told: `$PITMIRROR_FINDINGS`; else `traces/failures`
    of the pitmirror checkout the command runs in (found from the working directory upward);
    else `$XDG_STATE_HOME/pitmirror/findings` (~/.local/state/...).  Always absolute."""
    if env := os.environ.get("PITMIRROR_FINDINGS"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if (
            (folder / "traces").is_dir()
            and project.is_file()
            and "pitmirror" in project.read_text()
        ):
            return folder / "traces" / UNCURATED
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).resolve() / "pitmirror" / "findings"


def save_finding(trace: Trace, directory: Path, stem: str) -> Saved:
    """`trace` written atomically as `<stem>.jsonl` under `directory`, or `<stem>-2.jsonl`,
    `-3`, ... when the name is taken: a finding never replaces another.  When the folder
    cannot be written, the error and the trace's text."""
    text = dump_trace(trace)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{stem}.{os.getpid()}.tmp"
        tmp.write_text(text)
        try:
            for n in range(1, 10_000):
                path = directory / (f"{stem}.jsonl" if n == 1 else f"{stem}-{n}.jsonl")
                try:
                    os.link(tmp, path)  # atomic, and fails rather than replace
                    return Saved(path.resolve())
                except FileExistsError:
                    continue
        finally:
            tmp.unlink(missing_ok=True)
        return Saved(None, f"cannot save under {directory}: 9,999 findings named {stem}", text)
    except OSError as err:
        return Saved(None, f"cannot save under {directory}: {err.strerror or err}", text)


def trace_files(root: Path) -> list[Path]:
    """The curated traces under `root`: what `check` and `prove` save under `failures/` is a
    local finding, not part of the collection, until someone moves it here."""
    return sorted(
        p
        for p in root.rglob("*.jsonl")
        if p.is_file() and UNCURATED not in p.relative_to(root).parts
    )
