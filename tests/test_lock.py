"""The lock file is the tested environment: it honours pyproject's ranges, and the packages the
tests run with are exactly the ones it pins (the README's commands install from it)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
INSTALL_HINT = "install with: pip install -c requirements.lock '.[verify,test]'"
EXTRAS = ("verify", "test")
"""the extras the README's test command installs, and the lock resolves"""


def locked() -> dict[str, Version]:
    """The lock's pins that apply to this interpreter and platform."""
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"the lock pins exact versions, not {line!r}"
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    listed = [text for extra in EXTRAS for text in extras.get(extra, [])]
    return [Requirement(text) for text in [*project["dependencies"], *listed]]


def test_lock_pins_every_dependency_within_pyproject_range() -> None:
    pins = locked()
    problems = []
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{name} is not in the lock")
        elif pins[name] not in requirement.specifier:
            problems.append(f"{name} {pins[name]} is outside pyproject's {requirement.specifier}")
    assert not problems, "regenerate the lock (README, Development): " + "; ".join(problems)


def test_every_api_dependency_has_an_upper_bound() -> None:
    """A new major release must not reach a user before we have tested it."""
    unbounded = [
        str(requirement)
        for requirement in declared()
        if not any(spec.operator in {"<", "<=", "==", "~="} for spec in requirement.specifier)
    ]
    assert not unbounded, f"no upper bound: {unbounded}"


def test_installed_packages_are_the_locked_versions() -> None:
    """Everything pitmirror[verify,test] needs, transitively, is installed at the lock's
    version."""
    pins = locked()
    problems = []
    seen: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [("pitmirror", frozenset(EXTRAS))]
    while pending:
        name, extras = pending.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            environment = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate(env) for env in environment):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency in seen:
                continue
            seen.add(dependency)
            installed = Version(metadata.version(dependency))
            pinned = pins.get(dependency)
            if pinned is None:
                problems.append(f"{dependency} {installed} is not in the lock")
            elif installed != pinned:
                problems.append(f"{dependency} {installed} installed, the lock pins {pinned}")
            pending.append((dependency, frozenset(requirement.extras)))
    assert seen, "pitmirror declares no dependencies: is it installed?"
    assert not problems, f"{INSTALL_HINT}\n" + "\n".join(sorted(problems))
