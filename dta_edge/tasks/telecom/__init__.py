"""The built-in telecom-mathematics problem generator."""

from dta_edge.tasks.telecom._registry import (
    CATEGORIES,
    DEMO_FAMILIES,
    FAMILIES,
    TIERS,
    Family,
    FamilyProblem,
    check_family_names,
)

__all__ = [
    "CATEGORIES",
    "DEMO_FAMILIES",
    "FAMILIES",
    "TIERS",
    "Family",
    "FamilyProblem",
    "check_family_names",
]
