"""A design change written as a small Python file: a *variant* of a design.

A variant file names its design and may change two things, each optional:

- `OPTIONS`: option values (a dict of the design's option fields), the design choices the
  engine also knows;
- `RULES`: new or changed rules of named actions (a dict from action name to `PlannedRule`,
  over the algebra of model/algebra.py, as the design's own rules are written), which the
  model and the proof take and the engine does not;
- `TOPOLOGY`: where the change shows itself (a topology name), searched first for a trace.

A design's `Options` carry the variant's path (`variant`), so a state, a proof obligation and a
trace all know which rules they run; the file is loaded once per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pitmirror.model.algebra import PlannedRule


class VariantError(ValueError):
    """A variant file that cannot be used: missing, not Python, or not a design change."""


@dataclass(frozen=True)
class Variant:
    """What a variant file says."""

    path: str
    design: str
    why: str
    """the file's docstring: the change in words"""
    options: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[str, PlannedRule] = field(default_factory=dict)
    digest: str = ""
    """the file's SHA-256, to tell a trace's variant from an edited one"""
    topology: str | None = None
    """where the change shows itself: searched first"""

    @property
    def name(self) -> str:
        return Path(self.path).stem


@functools.cache
def _module(path: str) -> ModuleType:
    file = Path(path)
    if not file.is_file():
        raise VariantError(f"no variant file {path!r}")
    name = f"pitmirror_variant_{hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise VariantError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise VariantError(f"{path}: {type(error).__name__}: {error}") from error
    return module


@functools.cache
def load(path: str) -> Variant:
    """The variant a file states (VariantError when it states none)."""
    module = _module(path)
    design = getattr(module, "DESIGN", None)
    if not isinstance(design, str):
        raise VariantError(f'{path}: no DESIGN = "<design name>" in the file')
    options = getattr(module, "OPTIONS", {})
    rules = getattr(module, "RULES", {})
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise VariantError(f"{path}: OPTIONS must be a dict of option names to values")
    if not isinstance(rules, dict) or not all(isinstance(r, PlannedRule) for r in rules.values()):
        raise VariantError(f"{path}: RULES must be a dict of action names to PlannedRule")
    if not options and not rules:
        raise VariantError(f"{path}: neither OPTIONS nor RULES: nothing changes")
    topology = getattr(module, "TOPOLOGY", None)
    if topology is not None and not isinstance(topology, str):
        raise VariantError(f"{path}: TOPOLOGY must be a topology's name")
    why = " ".join((module.__doc__ or "").split())
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return Variant(path, design, why, dict(options), dict(rules), digest, topology)


def rules_of(base: Mapping[str, PlannedRule], variant: str) -> Mapping[str, PlannedRule]:
    """A design's rules with a variant's changes (`variant`: the file's path, or "" for none).
    A rule of the other design (over the other design's state) is a file error."""
    if not variant:
        return base
    changed = load(variant).rules
    unknown = set(changed) - set(base)
    if unknown:
        raise VariantError(
            f"{variant}: no action {', '.join(sorted(unknown))} in the design "
            f"(its actions: {', '.join(base)})"
        )
    design = next(iter(base.values())).design
    found: dict[str, PlannedRule] = dict(base)
    for name, rule in changed.items():
        if rule.design not in ("", design):
            raise VariantError(f"{variant}: {name} is a rule of design {rule.design}, "
                               f"not of {design}")  # fmt: skip
        found[name] = rule
    return found


def changed_rules(options: Any) -> tuple[str, ...]:
    """The actions whose rules the options' variant changes (none without a variant): the
    engine implements option values, not these."""
    path = getattr(options, "variant", "")
    return tuple(sorted(load(path).rules)) if path else ()
