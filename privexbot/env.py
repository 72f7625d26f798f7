"""Typed readers for settings that come from the environment.

Only settings modules call these. Every helper raises ImproperlyConfigured with the variable's
name on a bad value, so a typo in deployment fails at start-up instead of behaving oddly later.
A secret may also be given as NAME_FILE pointing at a file that holds it (Docker/K8s secrets).
"""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        path = os.environ.get(f"{name}_FILE")
        if path:
            try:
                with open(path, encoding="utf-8") as fh:
                    return fh.read().strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from exc
    return value


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        result = default
    else:
        try:
            result = int(value.split("#", 1)[0].strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {result}")
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {result}")
    return result


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        result = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {result}")
    return result


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_size(text: str) -> int:
    """'50MB' -> 52428800; plain integers are bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?B?)\s*", text.upper())
    if not match:
        raise ValueError(text)
    number, unit = match.groups()
    if unit in {"K", "M", "G"}:
        unit += "B"
    return int(number) * _SIZE_UNITS[unit]


def env_size(name: str, default: str) -> int:
    value = _raw(name)
    try:
        return parse_size(default if value is None else value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a size like 50MB or 1048576, got {value!r}") from None


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = (_raw(name) or default).strip()
    if value.upper() in {c.upper() for c in choices}:
        return value.upper() if all(c.isupper() for c in choices) else value
    raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, got {value!r}")
