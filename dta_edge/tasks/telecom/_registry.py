"""The family registry: every family by name, built once from the family modules."""

from __future__ import annotations

from dta_edge.tasks.telecom._common import CATEGORIES, Family, FamilyProblem
from dta_edge.tasks.telecom._families_demo import FAMILIES_DEMO
from dta_edge.tasks.telecom._families_radio import FAMILIES_RADIO
from dta_edge.tasks.telecom._families_signal import FAMILIES_SIGNAL
from dta_edge.tasks.telecom._families_traffic import FAMILIES_TRAFFIC


def _build(*groups: tuple[Family, ...]) -> dict[str, Family]:
    registry: dict[str, Family] = {}
    for group in groups:
        for family in group:
            if family.name in registry:
                raise ValueError(f"duplicate problem family name: {family.name}")
            if family.category not in CATEGORIES:
                raise ValueError(f"family {family.name} has unknown category {family.category}")
            registry[family.name] = family
    return registry


FAMILIES: dict[str, Family] = _build(FAMILIES_RADIO, FAMILIES_SIGNAL, FAMILIES_TRAFFIC)
# The demo tier: small-integer problems a laptop-sized model can learn (see _families_demo).
DEMO_FAMILIES: dict[str, Family] = _build(FAMILIES_DEMO)
TIERS: dict[str, dict[str, Family]] = {"standard": FAMILIES, "demo": DEMO_FAMILIES}


def check_family_names(names: tuple[str, ...], tier: str = "standard") -> tuple[str, ...]:
    """Return ``names`` if all are in ``tier``; else raise ValueError listing the valid ones."""
    registry = TIERS[tier]
    unknown = [name for name in names if name not in registry]
    if unknown:
        where = "" if tier == "standard" else f" in the {tier} tier"
        raise ValueError(f"unknown families {unknown}{where}; valid: {', '.join(sorted(registry))}")
    return names


__all__ = [
    "CATEGORIES",
    "DEMO_FAMILIES",
    "FAMILIES",
    "TIERS",
    "Family",
    "FamilyProblem",
    "check_family_names",
]
