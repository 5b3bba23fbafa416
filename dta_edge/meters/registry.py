"""Meter registry: name -> "module:Class", the shape of the backend registry.

Adding a meter is one module and one line here. Profiles validate their meter names against this
table, and classes are imported only when a meter is opened (NVML, CodeCarbon stay optional).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from dta_edge.meters.base import Meter
from dta_edge.plugins import name_check, plugin_class, plugin_options, with_profile_defaults

METERS: dict[str, str] = {
    "nvml": "dta_edge.meters.nvml:NvmlMeter",
    "jetson": "dta_edge.meters.jetson:JetsonMeter",
    "tegrastats": "dta_edge.meters.tegrastats:TegrastatsMeter",
    "rapl": "dta_edge.meters.rapl:RaplMeter",
    "codecarbon": "dta_edge.meters.codecarbon_meter:CodeCarbonMeter",
    "cpu-time": "dta_edge.meters.cpu_time:CpuTimeMeter",
    "none": "dta_edge.meters.base:NoMeter",
}


# Every config field naming a meter validates against this table.
MeterName = Annotated[str, AfterValidator(name_check(METERS, "meter"))]


def meter_options(name: str, options: dict[str, Any] | None = None, profile: Any = None) -> Any:
    """A meter's options, validated against its own Options model (no hardware touched).

    Raises:
        ConfigError: an unknown meter, or an unknown or invalid option (a profile naming a
            program for tegrastats to run, say).
    """
    cls = plugin_class(METERS, "meter", name)
    return plugin_options(cls, "meter", name, with_profile_defaults(cls, profile, options))


def create_meter(name: str, options: dict[str, Any] | None = None, profile: Any = None) -> Meter:
    """A meter from the registry, its options validated against its own Options model.

    A meter whose Options declare ``profile_defaults(profile)`` takes those values (the
    estimator's TDP) from ``profile`` where ``options`` does not set them.
    """
    cls = plugin_class(METERS, "meter", name)
    merged = with_profile_defaults(cls, profile, options)
    return cls(plugin_options(cls, "meter", name, merged))
