"""The built-in telecom-mathematics problem generator."""

from dta_edge.tasks.telecom._registry import (
    CATEGORIES,
    FAMILIES,
    Family,
    FamilyProblem,
    check_family_names,
)

__all__ = ["CATEGORIES", "FAMILIES", "Family", "FamilyProblem", "check_family_names"]
