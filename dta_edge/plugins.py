"""What every plug-in registry shares: a table of names to lazily imported classes.

Backends and meters each keep one ``dict[str, str]`` (name -> "module:Class"); looking a name up,
validating it in a config and parsing a plug-in's own Options go through these three functions,
so an unknown name or a misspelt option fails the same way in every family.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import import_module
from typing import Any

from pydantic import BaseModel, ValidationError

from dta_edge.errors import ConfigError


def name_check(table: dict[str, str], family: str) -> Callable[[str], str]:
    """A pydantic validator accepting only the names in ``table`` (the one list of names)."""

    def check(name: str) -> str:
        if name not in table:
            raise ValueError(f"unknown {family} '{name}'; known: {', '.join(table)}")
        return name

    return check


def plugin_class(table: dict[str, str], family: str, name: str) -> type:
    """The class registered under ``name``, imported now (heavy runtimes load only when chosen).

    Raises:
        ConfigError: ``name`` is not registered; the message lists the known names.
    """
    if name not in table:
        raise ConfigError(name, [f"unknown {family} '{name}'; known: {', '.join(table)}"])
    module, _, attribute = table[name].partition(":")
    return getattr(import_module(module), attribute)


def plugin_options(cls: type, family: str, name: str, options: dict[str, Any] | None) -> BaseModel:
    """``options`` validated against the plug-in's own Options model, as a YAML config would be.

    Raises:
        ConfigError: every misspelt or invalid option, with its key path.
    """
    try:
        return cls.Options.model_validate_json(json.dumps(options or {}))  # type: ignore[attr-defined]
    except ValidationError as exc:
        known = list(cls.Options.model_fields)  # type: ignore[attr-defined]
        problems = [option_problem(error, known) for error in exc.errors()]
        raise ConfigError(f"{family} {name} options", problems) from None


def option_problem(error: Any, known: list[str]) -> str:
    """One invalid option (a pydantic error), with a "did you mean" for a misspelt name."""
    import difflib

    where = ".".join(map(str, error["loc"]))
    if error["type"] != "extra_forbidden":
        return f"{where}: {error['msg']}"
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (options: {', '.join(known)})"
    return f"{where}: unknown option{hint}"


def with_profile_defaults(cls: type, profile: Any, options: dict[str, Any] | None) -> dict:
    """``options`` over what a device profile sets for this plug-in.

    A plug-in whose Options declare ``profile_defaults(profile)`` (a backend's threads and GPU
    layers, the estimator's TDP) takes those values where ``options`` does not set them; a
    default of None is no default.
    """
    from_profile = getattr(cls.Options, "profile_defaults", None)  # type: ignore[attr-defined]
    defaults = from_profile(profile) if from_profile is not None and profile is not None else {}
    return {**{k: v for k, v in defaults.items() if v is not None}, **(options or {})}
