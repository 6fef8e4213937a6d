"""What every design's catalogue mutants share (harness/<design>/mutants.py): which options
ask for a mutant, and a site whose `keeps` drops the barrier its option names."""

from __future__ import annotations

from typing import Any, ClassVar

from pitmirror.model.options import DesignOptions


def is_mutant(options: DesignOptions, design_choices: frozenset[str]) -> bool:
    """The options switch some engine behaviour off the safe design (not only one of the
    product's own `design_choices`)."""
    return bool(set(options.non_default()) - design_choices)


class DroppedBarriers:
    """Mixed in before a product site: each barrier the site names is kept as its option says
    (`barriers`: barrier name -> option field)."""

    barriers: ClassVar[dict[str, str]]
    options: Any

    def keeps(self, barrier: str) -> bool:
        return bool(getattr(self.options, self.barriers[barrier]))
