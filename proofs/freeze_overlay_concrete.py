"""Concrete design-B states as Z3 facts (one-group topologies), to hold the encoding and the
Python model together and to check concrete counterexamples.

The member, remote and grain sorts are pinned to the group's members, its remotes and the
object size; values are distinct constants (seed 0 is the encoding's zero).  The ghosts are
the model's images of points k, k-1 and k-2 (any value where a point does not exist yet).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import z3

from pitmirror.model import freeze_overlay as model
from pitmirror.proofs import freeze_overlay as B
from pitmirror.proofs.freeze_overlay_finite import elements
from pitmirror.proofs.sorts import ZERO, Grain, Val


class Universe:
    """The group's members, remotes and grains as elements of `encoding`'s sorts: the finite
    enumerations of proofs/freeze_overlay_finite.py (decidable), or constants pinned by domain
    facts."""

    def __init__(self, topology: model.Topology, encoding: ModuleType | None = None) -> None:
        if len(topology.groups) != 1:
            raise ValueError("the concrete encoding covers one-group topologies")
        group = topology.groups[0]
        self.topology, self.encoding = topology, encoding or B
        self.finite = encoding is not None
        sizes = (len(group.objects), len(group.remotes), group.objects[0].grains)
        if encoding is not None:
            self.members, self.remotes, self.grains = (
                elements(encoding, sort)[:n]
                for sort, n in zip(("Member", "Remote", "Grain"), sizes, strict=True)
            )
            assert (len(self.members), len(self.remotes), len(self.grains)) == sizes
        else:
            self.members = [z3.Const(f"member_{o.name}", B.Member) for o in group.objects]
            self.remotes = [z3.Const(f"remote_{r}", B.Remote) for r in group.remotes]
            self.grains = [z3.Const(f"grain{i}", Grain) for i in range(sizes[2])]
        self.values: dict[int, Any] = {0: ZERO}

    def value(self, seed: int) -> Any:
        if seed not in self.values:
            self.values[seed] = z3.Const(f"seed{seed}", Val)
        return self.values[seed]

    def facts(self) -> list[Any]:
        out: list[Any] = []
        domains = () if self.finite else (
            (B.Member, self.members), (B.Remote, self.remotes), (Grain, self.grains)
        )  # fmt: skip
        for sort, members in domains:
            x = z3.Const(f"some_{sort}", sort)
            out.append(z3.ForAll([x], z3.Or([x == e for e in members])))
            if len(members) > 1:
                out.append(z3.Distinct(*members))
        if len(self.values) > 1:
            out.append(z3.Distinct(*self.values.values()))
        return out


def encode(state: model.State, z: Any, u: Universe) -> list[Any]:
    facts: list[Any] = []
    group = state.groups[0]
    images = {
        "p0": group.images[group.point],
        "pm1": group.images[group.point - 1],
        "pm2": group.images[group.point - 2] if group.point >= 2 else None,
    }
    for mi, (m, obj) in enumerate(zip(u.members, state.objects, strict=True)):
        frozen = dict(obj.frozen or ())
        active = dict(obj.active)
        facts.append(z.has_frozen[m] == (obj.frozen is not None))
        facts.append(z.unfrozen[m] == (mi in group.unfrozen))
        for gi, g in enumerate(u.grains):
            facts.append(z.base[m][g] == u.value(obj.base[gi]))
            facts.append(z.acked[m][g] == u.value(state.acked[mi][gi]))
            facts.append(z.frozen_has[m][g] == (gi in frozen))
            if gi in frozen:
                facts.append(z.frozen_val[m][g] == u.value(frozen[gi]))
            facts.append(z.active_has[m][g] == (gi in active))
            if gi in active:
                facts.append(z.active_val[m][g] == u.value(active[gi]))
            for name, image in images.items():
                if image is not None:
                    facts.append(getattr(z, name)[m][g] == u.value(image[mi][gi]))
        for r, (_site, copy) in zip(u.remotes, state.remotes[mi], strict=True):
            delta = dict(copy.delta)
            facts.append(z.rbase_point[r][m] == copy.base_point)
            point = copy.delta_point if copy.delta_point is not None else B.NONE
            facts.append(z.rdelta_point[r][m] == point)
            facts.append(z.complete[r][m] == copy.complete)
            for gi, g in enumerate(u.grains):
                facts.append(z.rbase[r][m][g] == u.value(copy.base[gi]))
                facts.append(z.rdelta_has[r][m][g] == (gi in delta))
                if gi in delta:
                    facts.append(z.rdelta_val[r][m][g] == u.value(delta[gi]))
    home = u.topology.groups[0].home
    for r, site in zip(u.remotes, u.topology.groups[0].remotes, strict=True):
        facts.append(z.completed[r] == (site in group.completed_at))
        facts.append(z.remote_up[r] == state.site_up(site))
        facts.append(z.link_up[r] == (model.link_name(home, site) not in state.down_links))
    facts += [z.point == group.point, z.broken == group.broken, z.home_up == state.site_up(home)]
    return facts
