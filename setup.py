"""Build hook: ship the top-level declaration folders inside the wheel.

Recipes, targets, suites, profiles, prompts and the lexicon live at the top of the checkout
(a user edits a recipe, not code). A wheel carries them as ``dta_edge/_shipped/<folder>`` so an
installed package resolves ``--target cpu-gguf-q8_0`` or ``--suite demo`` from any directory
(see dta_edge/shipped.py). Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FOLDERS = ("curation", "export", "bench", "profiles", "analysis")
SUFFIXES = {".yaml", ".jinja", ".md"}


class BuildPyWithShipped(build_py):
    """build_py, then copy the declaration folders into the built package."""

    def run(self) -> None:
        """Build the package as usual, then add dta_edge/_shipped/<folder>."""
        super().run()
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "dta_edge" / "_shipped"
        for folder in FOLDERS:
            source = here / folder
            if not source.is_dir():  # building from an sdist that lacks it
                continue
            for path in sorted(source.rglob("*")):
                if path.is_file() and path.suffix in SUFFIXES:
                    destination = target / path.relative_to(here)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, destination)


setup(cmdclass={"build_py": BuildPyWithShipped})
