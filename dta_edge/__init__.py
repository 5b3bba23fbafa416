"""dta-edge: Data Trajectory Alignment for domain LLMs on edge devices."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dta-edge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
