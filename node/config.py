"""One site of a mirror, described by a TOML file, and built from it.

```toml
design = "cyclic-flashcopy"     # design A
site = "local"                  # local (S, I1) or remote (I2, T)
state_dir = "/var/lib/pitmirror/pair0"   # the site's journal
grain_size = 65536              # bytes; the same at both sites
map_rule = "merge"              # optional: merge (claim 6) or update (claim 5)

[volumes]                       # the site's own volumes: regular files or block devices
source = "/dev/vdb"
i1 = "/srv/pitmirror/i1.img"

# what `pitmirror serve` needs besides (inspect does without):
mirror = "pair0"                # the mirror's name: both sites say the same
secret_file = "pair0.secret"    # the secret both sites hold (at least 16 bytes)

[link]
peer = "192.0.2.2:7788"         # the local site connects to the remote; the remote says
                                # listen = "0.0.0.0:7788"
heartbeat_seconds = 1.0         # optional
dead_seconds = 5.0              # optional: no frame for this long, the link is down

[cycle]                         # optional
idle_seconds = 0.05             # how long a site with nothing to do waits before looking again
extents_per_tick = 4
max_extent_grains = 256

[status]                        # optional
socket = "control.sock"         # default: in the state folder
metrics = "127.0.0.1:9477"      # Prometheus metrics on this address (none unless given)

[frontend]                      # optional, at a site the host writes (root, /dev/fuse)
mount = "frontend"              # each host volume a file here (in the state folder unless
                                # absolute), attached to a loop device: the host's disk
```

A site is built from its own volumes and journal only (node/designs.py says which volumes each
design's sites own); its link to the peer is given to it.  Every mistake in the file is one
`ConfigError` naming the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitmirror.impl.link import Link
from pitmirror.impl.site import no_clock
from pitmirror.impl.volumes import Volume, open_volume
from pitmirror.node.designs import DESIGNS
from pitmirror.node.site import Clock, ConfigError, RunningSite

KEYS = ("design", "site", "state_dir", "grain_size", "volumes", "mirror", "secret_file", "link",
        "cycle", "status", "frontend")  # fmt: skip
TABLES: dict[str, dict[str, type]] = {
    "link": {
        "listen": str,
        "peer": str,
        "peers": dict,
        "heartbeat_seconds": float,
        "dead_seconds": float,
    },  # fmt: skip
    "cycle": {
        "idle_seconds": float,
        "extents_per_tick": int,
        "max_extent_grains": int,
        "interval_seconds": float,
    },  # fmt: skip
    "status": {"socket": str, "metrics": str},
    "frontend": {"mount": str},
}


@dataclass(frozen=True)
class SiteConfig:
    design: str
    site: str
    state_dir: Path
    grain_size: int
    volumes: dict[str, Path]
    settings: dict[str, Any] = field(default_factory=dict)
    """the design's own settings, each checked against its allowed values"""
    mirror: str | None = None
    secret_file: Path | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """the optional tables (link, cycle, status), their values checked for type"""
    where: Path = Path("?")
    """the file it was read from"""

    def address(self, key: str) -> tuple[str, int] | None:
        """A `host:port` of the link or status table, or None when it is not given."""
        table = "status" if key == "metrics" else "link"
        text = self.tables.get(table, {}).get(key)
        return None if text is None else self._host_port(text, f"{table}.{key}")

    def peer_address(self, site: str, only: bool) -> tuple[str, int] | None:
        """Where the `site` this one connects to listens: link.peers.<site>, or link.peer when
        it is the `only` one."""
        link = self.tables.get("link", {})
        text = link.get("peers", {}).get(site)
        if text is not None:
            return self._host_port(text, f"link.peers.{site}")
        return self.address("peer") if only else None

    def _host_port(self, text: object, key: str) -> tuple[str, int]:
        host, _, port = str(text).rpartition(":")
        if not isinstance(text, str) or not host or not port.isdigit() or int(port) >= 65536:
            raise ConfigError(f"{self.where}: {key} {text!r} is not host:port")
        return host.strip("[]"), int(port)

    @property
    def control_socket(self) -> Path:
        """The daemon's control socket: status.socket, in the state folder unless absolute."""
        given = Path(self.tables.get("status", {}).get("socket", "control.sock"))
        return given if given.is_absolute() else self.state_dir / given

    @property
    def frontend_mount(self) -> Path | None:
        """Where the host's volumes are served as files (frontend.mount), or None: no
        frontend."""
        given = self.tables.get("frontend", {}).get("mount")
        if given is None:
            return None
        return Path(given) if Path(given).is_absolute() else self.state_dir / given

    def number(self, table: str, key: str, default: float) -> float:
        return float(self.tables.get(table, {}).get(key, default))


def _require(table: dict[str, Any], key: str, kind: type, where: Path) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: {key!r} is missing")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def load_config(path: Path) -> SiteConfig:
    """The config file at `path`, checked; ConfigError names the first problem."""
    try:
        table = tomllib.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not TOML: {err}") from None
    name = _require(table, "design", str, path)
    if name not in DESIGNS:
        raise ConfigError(f"{path}: design {name!r} has no sites to run yet (known: "
                          f"{', '.join(DESIGNS)})")  # fmt: skip
    design = DESIGNS[name]
    settings = design.settings(table, path)
    site = settings["site"]
    grain_size = _require(table, "grain_size", int, path)
    if grain_size <= 0 or grain_size % 512:
        raise ConfigError(f"{path}: grain_size {grain_size} is not a positive multiple of 512")
    volumes = _require(table, "volumes", dict, path)
    wanted, given = design.volumes(settings), set(volumes)
    if wanted != given:
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        words = [f"missing {', '.join(missing)}"] * bool(missing)
        words += [f"not this site's: {', '.join(extra)}"] * bool(extra)
        raise ConfigError(f"{path}: the {site} site's volumes are "
                          f"{', '.join(sorted(wanted))}: {'; '.join(words)}")  # fmt: skip
    for volume, where in volumes.items():
        if not isinstance(where, str) or not where:
            raise ConfigError(f"{path}: volume {volume!r} must be a path, got {where!r}")
    unknown = set(table) - set(KEYS) - design.keys
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    state_dir = Path(_require(table, "state_dir", str, path))
    base = path.resolve().parent
    tables: dict[str, dict[str, Any]] = {}
    for table_name, keys in TABLES.items():
        given = table.get(table_name, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{path}: {table_name!r} must be a table")
        for key, value in given.items():
            kind = keys.get(key)
            if kind is None:
                raise ConfigError(f"{path}: unknown key {table_name}.{key}")
            if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float
                                                         else kind):  # fmt: skip
                raise ConfigError(
                    f"{path}: {table_name}.{key} must be a {kind.__name__}, got {value!r}"
                )
            if isinstance(value, int | float) and value <= 0:
                raise ConfigError(f"{path}: {table_name}.{key} must be positive, got {value!r}")
        tables[table_name] = dict(given)
    for peer, address in tables["link"].get("peers", {}).items():
        if not isinstance(address, str):
            raise ConfigError(f"{path}: link.peers.{peer} must be a str, got {address!r}")
    mirror, secret = table.get("mirror"), table.get("secret_file")
    for key, value in (("mirror", mirror), ("secret_file", secret)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{path}: {key!r} must be a non-empty string, got {value!r}")
    return SiteConfig(
        design=name,
        site=site,
        state_dir=state_dir if state_dir.is_absolute() else base / state_dir,
        grain_size=grain_size,
        volumes={n: (Path(p) if Path(p).is_absolute() else base / p) for n, p in volumes.items()},
        settings=dict(settings),
        mirror=mirror,
        secret_file=None if secret is None else base / secret,
        tables=tables,
        where=path,
    )


@contextmanager
def built_site(config: SiteConfig, links: Mapping[str, Link] | None = None,
               clock: Clock = no_clock) -> Iterator[RunningSite]:  # fmt: skip
    """The site the config describes, on its own volumes, recovered from its journal (a new
    state folder starts a new journal); its volumes are closed on exit.  Without links it
    reaches no peer (inspect, and the sites that never send)."""
    with ExitStack() as stack:
        volumes: dict[str, Volume] = {}
        for name, path in config.volumes.items():
            volumes[name] = stack.enter_context(open_volume(path, name, config.grain_size))
        config.state_dir.mkdir(parents=True, exist_ok=True)
        build = DESIGNS[config.design].build
        yield build(config.settings, volumes, config.state_dir, links or {}, clock)
