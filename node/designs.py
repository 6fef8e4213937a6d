"""The designs the product can run a site of: one line each (the product's registry)."""

from __future__ import annotations

from pitmirror.node.cyclic_flashcopy import NODE_DESIGN as CYCLIC_FLASHCOPY
from pitmirror.node.freeze_overlay import NODE_DESIGN as FREEZE_OVERLAY
from pitmirror.node.site import NodeDesign

DESIGNS: dict[str, NodeDesign] = {
    design.name: design for design in (CYCLIC_FLASHCOPY, FREEZE_OVERLAY)
}
