"""Design B's encoding over finite sorts, for the satisfiable side of the checks.

Over uninterpreted member, remote and grain sorts the proof's `unsat` answers hold for every
size, but a satisfiable query (a counterexample, a concrete step) meets nested arrays under
quantifiers and z3 answers `unknown`.  Over small enumeration sorts the same encoding — the
same source file, loaded a second time with those sorts — is decided at once.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import z3

from pitmirror.proofs import freeze_overlay

SOURCE = Path(freeze_overlay.__file__)


@functools.cache
def finite_encoding(members: int, remotes: int, grains: int) -> ModuleType:
    """The design-B encoding with `members` members, `remotes` remotes, `grains` grains."""
    name = f"pitmirror.proofs._finite_overlay_{members}_{remotes}_{grains}"
    overrides: dict[str, Any] = {}
    for sort, size in (("Member", members), ("Remote", remotes), ("Grain", grains)):
        tag = f"{members}_{remotes}_{grains}"
        names = [f"{sort.lower()}{i}_{tag}" for i in range(size)]
        enum, elements = z3.EnumSort(f"{sort}_{tag}", names)
        overrides[sort] = enum
        overrides[f"{sort}_elements"] = elements
    spec = importlib.util.spec_from_file_location(name, SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module._OVERRIDES = overrides  # type: ignore[attr-defined]
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def elements(encoding: ModuleType, sort: str) -> list[Any]:
    return list(encoding._OVERRIDES[f"{sort}_elements"])
