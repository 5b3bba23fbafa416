"""Meter registry: name -> "module:Class", the shape of the backend registry.

Adding a meter is one module and one line here. Profiles validate their meter names against this
table, and classes are imported only when a meter is opened (NVML, CodeCarbon stay optional).
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import Annotated, Any

from pydantic import AfterValidator

from dta_edge.errors import ConfigError
from dta_edge.meters.base import Meter

METERS: dict[str, str] = {
    "nvml": "dta_edge.meters.nvml:NvmlMeter",
    "jetson": "dta_edge.meters.jetson:JetsonMeter",
    "rapl": "dta_edge.meters.rapl:RaplMeter",
    "codecarbon": "dta_edge.meters.codecarbon_meter:CodeCarbonMeter",
    "none": "dta_edge.meters.base:NoMeter",
}


def known_meter(name: str) -> str:
    """Validator of every config field naming a meter."""
    if name not in METERS:
        raise ValueError(f"unknown meter '{name}'; known: {', '.join(METERS)}")
    return name


MeterName = Annotated[str, AfterValidator(known_meter)]


def create_meter(name: str, options: dict[str, Any] | None = None) -> Meter:
    """A meter from the registry, its options validated against its own Options model."""
    from pydantic import ValidationError

    if name not in METERS:
        raise ConfigError(name, [f"unknown meter '{name}'; known: {', '.join(METERS)}"])
    module, _, attribute = METERS[name].partition(":")
    cls = getattr(import_module(module), attribute)
    try:
        parsed = cls.Options.model_validate_json(json.dumps(options or {}))  # as YAML configs
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"meter {name} options", problems) from None
    return cls(parsed)
