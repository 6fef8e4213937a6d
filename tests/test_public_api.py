"""Only documented public names of third-party packages are used anywhere in the project.

A private name (`_x`, a `_private` or `internal` module) or an undocumented helper can change
or vanish in any release, and its typing can differ between releases, which is how a private
Hypothesis helper once turned CI red on one machine and not on another.  The check reads the
source with `ast`: every import, every attribute taken from a third-party binding, every
`getattr` with a literal name.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("model", "impl", "proofs", "harness", "pitmirror_pkg", "tests", "bench")
FIRST_PARTY = {"pitmirror", "conftest", "crosshair_buggy"}
PRIVATE_MODULE_PARTS = {"internal", "_internal"}
# Hypothesis keeps undocumented helpers under public-looking names beside its API, in modules
# without `__all__`; one of them changed its typing between releases and turned CI red.  Only
# the modules and names its API reference documents may be used.
DOCUMENTED_MODULES = {
    "hypothesis": {
        "hypothesis",
        "hypothesis.strategies",
        "hypothesis.stateful",
        "hypothesis.errors",
        "hypothesis.database",
    },
}
DOCUMENTED_PACKAGES = {"hypothesis.extra"}
"""Packages whose every public submodule is documented."""
DOCUMENTED_NAMES = {
    "hypothesis.stateful": {
        "RuleBasedStateMachine",
        "Bundle",
        "rule",
        "initialize",
        "precondition",
        "invariant",
        "consumes",
        "multiple",
        "run_state_machine_as_test",
    },
}


@dataclass(frozen=True)
class Use:
    path: Path
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.name}"


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return bool(top) and top not in sys.stdlib_module_names and top not in FIRST_PARTY


def _sources() -> list[Path]:
    folders = [ROOT / name for name in SOURCE_DIRS if (ROOT / name).is_dir()]
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def third_party_uses(path: Path, tree: ast.AST) -> Iterator[Use]:
    """Every dotted name the file takes from a third-party package, fully qualified."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name):
                    yield Use(path, node.lineno, alias.name)
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and _third_party(node.module):
            if node.level:
                continue
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                yield Use(path, node.lineno, qualified)
                bound[alias.asname or alias.name] = qualified
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain and chain[0] in bound:
                yield Use(path, node.lineno, ".".join([bound[chain[0]], *chain[1:]]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr"}
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in bound
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            yield Use(path, node.lineno, f"{bound[node.args[0].id]}.{node.args[1].value}")


def _dotted(node: ast.Attribute) -> list[str] | None:
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(current.id)
    return parts[::-1]


def violation(name: str) -> str | None:
    """Why `name` is not a documented public name, or None when it is."""
    parts = name.split(".")
    for index, part in enumerate(parts):
        if _is_private(part):
            return f"`{part}` is private"
        if index < len(parts) - 1 and part in PRIVATE_MODULE_PARTS:
            return f"`{'.'.join(parts[: index + 1])}` is an internal module"
    return _undocumented(parts) or _outside_all(parts)


def _undocumented(parts: list[str]) -> str | None:
    modules = DOCUMENTED_MODULES.get(parts[0])
    if modules is None:
        return None
    split = next(k for k in range(len(parts), 0, -1) if _is_module(".".join(parts[:k])))
    module = ".".join(parts[:split])
    if module not in modules and not any(module.startswith(f"{m}.") for m in DOCUMENTED_PACKAGES):
        return f"{module} is not a documented module"
    names = DOCUMENTED_NAMES.get(module)
    if names is not None and split < len(parts) and parts[split] not in names:
        return f"`{parts[split]}` is not in the API reference of {module}"
    return None


def _is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _outside_all(parts: list[str]) -> str | None:
    """A name taken from a module that declares `__all__` must be in it (or be a submodule)."""
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        public = getattr(module, "__all__", None)
        name = parts[split]
        if public is None or name in public:
            return None
        try:
            importlib.import_module(f"{module_name}.{name}")
        except ImportError:
            return f"`{name}` is not in {module_name}.__all__"
        return None
    return None


def test_no_private_or_undocumented_third_party_name() -> None:
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for use in third_party_uses(path, tree):
            why = violation(use.name)
            if why is not None:
                found.append(f"{use} ({why})")
    assert not found, "third-party names outside the public API:\n" + "\n".join(sorted(set(found)))


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from hypothesis.stateful import TestCaseProperty", True),
        ("from hypothesis.control import BuildContext", True),
        ("import hypothesis.core", True),
        ("from hypothesis._settings import settings", True),
        ("from hypothesis.internal.reflection import function_digest", True),
        ("import hypothesis.internal.conjecture", True),
        ("import hypothesis\nhypothesis.core._private_thing", True),
        ("import numpy as np\nnp._core", True),
        ("import z3\ngetattr(z3, '_main_ctx')", True),
        ("from hypothesis import strategies as st\nst._internal", True),
        ("from hypothesis import find_any", True),
        ("from hypothesis.stateful import run_state_machine_as_test", False),
        ("from hypothesis import seed, settings\nsettings.register_profile", False),
        ("import numpy as np\nnp.zeros(3).__len__()", False),
        ("import os\nos._exit", False),
    ],
)
def test_the_check_flags_private_names(source: str, flagged: bool) -> None:
    path = ROOT / "tests" / "example.py"
    uses = list(third_party_uses(path, ast.parse(source)))
    assert any(violation(use.name) for use in uses) == flagged, [u.name for u in uses]
