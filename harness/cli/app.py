"""What the verification commands share: the design, topology, backend and option flags, and
the bad-input handling of the product's command line (node/cli.py), whose app they join."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer

from pitmirror.harness.backends import disk_bytes, leftovers
from pitmirror.harness.design import Design
from pitmirror.harness.designs import DESIGNS, Subject, UnknownDesign, design_named
from pitmirror.impl.volumes import loop_available
from pitmirror.model.options import DesignOptions
from pitmirror.node import cli as product
from pitmirror.node.cli import JsonOpt, app, fail, out, print_json

P = ParamSpec("P")
R = TypeVar("R")

DESIGN_NAMES = " or ".join(f"{name} (design {d.short})" for name, d in DESIGNS.items())
DEFAULT_DESIGN = next(iter(DESIGNS))
# choices as Literal types built from the registry: the parser lists them and refuses others
DesignName: Any = Literal.__getitem__(tuple(DESIGNS))
TopologyName: Any = Literal.__getitem__(
    tuple(t for d in DESIGNS.values() for t in d.model.topologies)
)
DesignOpt = Annotated[DesignName, typer.Option(help=f"{DESIGN_NAMES}.")]
TopologyOpt = Annotated[
    TopologyName | None,
    typer.Option(
        help="Where the design has topologies: "
        + "; ".join(
            f"{d.short}: {', '.join(d.model.topologies)}"
            for d in DESIGNS.values()
            if d.model.topologies
        )  # fmt: skip
        + "."
    ),
]
MUTANT_OR_FIELD = "MUTANT|FIELD=VALUE"
"""how `-o` shows its value in help"""
MutantOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        metavar=MUTANT_OR_FIELD,
        help="A mutant name or field=value; repeatable.",
    ),
]
BackendOpt = Annotated[
    Literal["auto", "loop", "file", "memory"],
    typer.Option(
        help="Volumes: auto (a loop device when root, else a sparse file), loop, file or memory."
    ),  # fmt: skip
]


def note_fallback(backend: object) -> None:
    """`--backend auto` off root runs on sparse files: say so once, on stderr."""
    if backend != "auto":
        return
    ok, reason = loop_available()
    if not ok:
        sys.stderr.write(f"pitmirror: {reason}: volumes are sparse files instead\n")


def note_leftovers() -> None:
    """Folders that killed runs left behind: say so once, on stderr, with what they hold."""
    found = leftovers()
    if found:
        held = sum(disk_bytes(leftover.root) for leftover in found) / 2**20
        sys.stderr.write(
            f"pitmirror: {len(found)} folder(s) left by runs that were killed hold {held:.0f} MB "
            f"under {found[0].root.parent}; `pitmirror cleanup` removes them\n"
        )


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """The product's one-line errors; on stderr, the note when `--backend auto` falls back to
    files and the one on what killed runs left behind."""
    guarded = product.clean_errors(fn)

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        note_fallback(kwargs.get("backend"))
        if fn.__name__ != "cleanup_cmd":
            note_leftovers()
        return guarded(*args, **kwargs)

    return wrapper


def lookup_design(name: str) -> Design:
    try:
        return design_named(name)
    except UnknownDesign as e:
        fail(str(e))


def design_for(design: str | None, names: list[str]) -> str:
    """The design asked for; without one, the design whose mutants `names` name (`check -o
    merge-before-complete` is design B's), else the default design."""
    if design is not None:
        return design
    owners = {
        d.name
        for d in DESIGNS.values()
        for n in names
        if n in {**d.model.unsafe_options, **d.model.power_loss_options}
    }
    if len(owners) > 1:
        fail(f"the options name mutants of several designs ({', '.join(sorted(owners))})")
    return owners.pop() if owners else DEFAULT_DESIGN


def parse_options(
    names: list[str], design: str = DEFAULT_DESIGN, base: DesignOptions | None = None
) -> DesignOptions:
    """`--option no-copy-on-write` (a named mutant) or `--option map_rule=update`, added to
    `base` (a trace's own options) when given."""
    model = lookup_design(design).model
    mutants = {**model.unsafe_options, **model.power_loss_options}
    options: dict[str, object] = {} if base is None else base.non_default()
    for name in names:
        if name in mutants:
            options.update(mutants[name].non_default())
            continue
        key, sep, value = name.partition("=")
        if not sep:
            known = ", ".join(mutants)
            fail(f"unknown option {name!r}: use a mutant name ({known}) or field=value")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    try:
        return model.options(options)
    except (TypeError, ValueError) as e:
        fail(str(e))


def make_subject(options: DesignOptions, topology: str | None, grains: int | None,
                 transport: str | None = None) -> Subject:  # fmt: skip
    """Without a topology, a design that has them runs the one its mutant shows itself on."""
    try:
        return replace(Subject.of(options, topology, grains), transport=transport)
    except ValueError as e:
        fail(str(e))


__all__ = ["JsonOpt", "app", "clean_errors", "fail", "out", "print_json"]
