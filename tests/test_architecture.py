"""The import graph keeps its shape: layers depend one way, no design imports another,
design-neutral code reaches a design only through the registry, the product (node) and the
engine (impl) never import the verification machinery or its libraries, and a site reaches
another site only through messages.

Read with `ast` from the source, so a violation is named with its file and line before anything
runs.  A module belongs to a design when its dotted name contains the design's name
(`pitmirror.impl.cyclic_flashcopy.local`, `pitmirror.model.freeze_overlay_rules`); what both
designs use lives in modules that name neither.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("model", "impl", "proofs", "node", "harness")
DESIGNS = ("cyclic_flashcopy", "freeze_overlay")
REGISTRIES = ("pitmirror.harness.designs", "pitmirror.node.designs")
"""the design-neutral modules that name the designs (one line each): the harness's and the
product's"""
MAY_IMPORT = {
    "model": {"model"},
    "impl": {"impl", "model"},
    "proofs": {"proofs", "model"},
    "node": {"node", "impl", "model"},
    "harness": {"harness", "node", "impl", "model", "proofs"},
}
VERIFICATION_LIBRARIES = {"hypothesis", "z3", "coverage", "crosshair"}
"""what only the verify extra installs: the product and the engine run without them"""
WITHOUT_VERIFICATION = ("model", "impl", "node")
SITE_MODULES = {
    "impl/cyclic_flashcopy/local.py": ("FlashCopyLocalSite", ("source", "i1")),
    "impl/cyclic_flashcopy/remote.py": ("FlashCopyRemoteSite", ("i2", "target")),
    "impl/freeze_overlay/site.py": ("OverlaySite", ("volumes",)),
}
"""each site's module, its class and the volumes it is given (design B's site is given a
mapping, which it refuses unless every volume is its own: tests/test_messages.py)"""


@dataclass(frozen=True)
class Edge:
    path: Path
    line: int
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["pitmirror", *parts])


def imports_of(path: Path, source: str) -> list[Edge]:
    """Every pitmirror module the source imports (`from pkg import module` resolved)."""
    importer = module_name(path)
    known = {module_name(p) for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    edges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in known
                else node.module
                for alias in node.names
            ]
        else:
            continue
        ours = [
            target
            for target in targets
            if target.startswith("pitmirror.") or target.split(".")[0] in VERIFICATION_LIBRARIES
        ]
        edges += [Edge(path, node.lineno, importer, target) for target in ours]
    return edges


def design_of(module: str) -> str | None:
    found = [d for d in DESIGNS if d in module]
    assert len(found) <= 1, f"{module} names two designs"
    return found[0] if found else None


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def problems(edge: Edge) -> list[str]:
    found = []
    mine, theirs = design_of(edge.importer), design_of(edge.imported)
    if mine is not None and theirs is not None and mine != theirs:
        found.append(f"{edge} (one design imports another)")
    if mine is None and theirs is not None and edge.importer not in REGISTRIES:
        found.append(f"{edge} (design-neutral code asks a registry, {' or '.join(REGISTRIES)})")
    layer, target = layer_of(edge.importer), layer_of(edge.imported)
    if layer is not None and target is not None and target not in MAY_IMPORT[layer]:
        found.append(f"{edge} ({layer} may not import {target})")
    if layer in WITHOUT_VERIFICATION and edge.imported.split(".")[0] in VERIFICATION_LIBRARIES:
        found.append(f"{edge} ({layer} runs without the verify extra's libraries)")
    return found


def sources() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def test_no_design_imports_another_and_layers_depend_one_way() -> None:
    found = [
        problem
        for path in sources()
        for edge in imports_of(path, path.read_text())
        for problem in problems(edge)
    ]
    assert not found, "\n".join(found)


def test_every_layer_has_each_design_under_its_own_name() -> None:
    for design in DESIGNS:
        for layer in ("model", "impl", "proofs", "harness"):
            named = [p for p in (ROOT / layer).rglob("*.py") if design in module_name(p)]
            assert named, f"{layer}/ has no module named after {design}"


@pytest.mark.parametrize(
    ("where", "source", "flagged"),
    [
        ("impl/freeze_overlay/layout.py", "from pitmirror.impl.cyclic_flashcopy import site", True),
        ("proofs/freeze_overlay.py", "from pitmirror.proofs import cyclic_flashcopy as A", True),
        ("model/spec.py", "from pitmirror.impl.volumes import Volume", True),
        ("proofs/prover.py", "import pitmirror.harness.traces", True),
        ("impl/freeze_overlay/engine.py", "from pitmirror.impl.site import DurableSite", False),
        ("harness/designs.py", "from pitmirror.model import cyclic_flashcopy", False),
        ("harness/verify.py", "from pitmirror.model import freeze_overlay as B", True),
        ("harness/cli/demo.py", "from pitmirror.harness.cyclic_flashcopy.demo import demo", True),
        ("proofs/prover.py", "from pitmirror.proofs import cyclic_flashcopy_proof", True),
        ("node/cli.py", "import pitmirror.harness.cli.commands", True),
        ("node/config.py", "from pitmirror.proofs.sorts import Grain", True),
        ("node/cli.py", "from hypothesis import given", True),
        ("impl/journal.py", "import z3", True),
        ("impl/volumes.py", "import coverage", True),
        ("harness/check.py", "from hypothesis import given", False),
        ("harness/cli/app.py", "from pitmirror.node.cli import app", False),
        ("node/cyclic_flashcopy.py", "from pitmirror.impl.cyclic_flashcopy import local", False),
        (
            "node/config.py",
            "from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite",
            True,
        ),
    ],
)
def test_the_check_flags_what_it_must(where: str, source: str, flagged: bool) -> None:
    edges = imports_of(ROOT / where, source)
    assert edges
    assert any(problems(edge) for edge in edges) == flagged, [str(e) for e in edges]


MAX_MODEL_FUNCTION_LINES = 60


def test_no_model_function_is_longer_than_60_lines() -> None:
    """The model is read as a specification: every guard and transition fits on a screen."""
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)"
        for path in sorted((ROOT / "model").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1)
        > MAX_MODEL_FUNCTION_LINES
    ]
    assert not long, "\n".join(long)


def site_problems(path: Path, source: str) -> list[str]:
    """A site module that imports another site's module, or whose site class is given a volume
    that is not its own."""
    here = path.relative_to(ROOT).as_posix()
    cls_name, own = SITE_MODULES[here]
    others = {module_name(ROOT / p) for p in SITE_MODULES if p != here}
    found = [
        f"{edge} (a site reaches another site only by messages)"
        for edge in imports_of(path, source)
        if edge.imported in others
    ]
    tree = ast.parse(source)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name]
    assert classes, f"{here} has no class {cls_name}"
    init = next(
        n for n in classes[0].body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
    )
    for arg in init.args.args:
        annotation = "" if arg.annotation is None else ast.unparse(arg.annotation)
        if "Volume" in annotation and arg.arg not in own:
            found.append(f"{here}: {cls_name} is given volume {arg.arg!r}, not its own")
    return found


def test_a_site_holds_only_its_own_volumes_and_imports_no_other_site() -> None:
    found = [
        p for path in SITE_MODULES for p in site_problems(ROOT / path, (ROOT / path).read_text())
    ]
    assert not found, "\n".join(found)


def test_the_site_check_flags_what_it_must() -> None:
    local = ROOT / "impl/cyclic_flashcopy/local.py"
    source = local.read_text()
    assert not site_problems(local, source)
    reaching = source.replace(
        "from pitmirror.impl.cyclic_flashcopy.messages",
        "from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite\n"
        "from pitmirror.impl.cyclic_flashcopy.messages",
    )
    assert any("only by messages" in p for p in site_problems(local, reaching))
    holding = source.replace(
        "        i1: Volume,\n", "        i1: Volume,\n        target: Volume,\n"
    )
    assert any("volume 'target'" in p for p in site_problems(local, holding))


def options_read(source: str) -> set[str]:
    """The fields read as `<...>.options.<field>` in a module's source."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "options"
    }


def test_the_product_reads_no_mutant_option() -> None:
    """The engine and the product read only their designs' own choices; a catalogue mutant's
    switch is read by the harness's subclasses (harness/<design>/mutants.py) alone."""
    from pitmirror.harness.cyclic_flashcopy import mutants as a_mutants
    from pitmirror.harness.freeze_overlay import mutants as b_mutants

    choices = a_mutants.DESIGN_CHOICES | b_mutants.DESIGN_CHOICES
    for layer in ("impl", "node"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            read = options_read(path.read_text())
            assert read <= choices, f"{path.relative_to(ROOT)} reads {sorted(read - choices)}"
    assert options_read("self.options.copy_on_write and x.options.pipelined") == {
        "copy_on_write",
        "pipelined",
    }
    mutant_fields = options_read((ROOT / "harness/freeze_overlay/mutants.py").read_text())
    assert "read_active_first" in mutant_fields
