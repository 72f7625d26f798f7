"""Typed readers for settings that come from the environment, and the environment of child processes.

Only settings modules call the readers. Every helper raises ImproperlyConfigured with the variable's
name on a bad value, so a typo in deployment fails at start-up instead of behaving oddly later.
A secret may also be given as NAME_FILE pointing at a file that holds it (Docker/K8s secrets).
This module, settings.py and settings_test.py are the only ones that touch os.environ
(tests/privexbot/test_settings_source.py checks it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

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


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        result = float(default)
    else:
        try:
            result = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {result}")
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {result}")
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
    """One of `choices`, matched case-insensitively and returned as spelled in `choices`."""
    value = (_raw(name) or default).strip()
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, got {value!r}")


# ---------------------------------------------------------------- child processes

# Third-party libraries must never phone home, reach a model hub or advertise: settings.py puts these in this
# process's environment (an operator's explicit value wins), child_environment() passes them on.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}
# What any child inherits: where programs, libraries, home and temporary files are, who runs it, the locale.
_INHERITED = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH"}
_INHERITED |= {"SSL_CERT_FILE", "SSL_CERT_DIR"}  # a custom CA bundle is configuration, not a secret


def child_environment(*, pythonpath: Iterable[str] = (), inherit: Iterable[str] = (), **extra: str) -> dict[str, str]:
    """The whole environment of a child process: the basics above, the offline flags, `pythonpath` in front of
    any inherited PYTHONPATH, the variables named in `inherit` when set here, then `extra`.

    Nothing else is inherited: SECRET_KEY, ENCRYPTION_KEY, DATABASE_URL, REDIS_URL and the rest of the
    settings stay in this process, so a child that a hostile file or page takes over cannot read them.
    A child that needs a value gets it from its caller, explicitly, in `extra`."""
    wanted = _INHERITED | set(inherit)
    env = {key: value for key, value in os.environ.items() if key in wanted or key.startswith("LC_")}
    env.update({key: os.environ.get(key, default) for key, default in OFFLINE_ENVIRONMENT.items()})
    paths = [*(str(p) for p in pythonpath), os.environ.get("PYTHONPATH", "")]
    if joined := os.pathsep.join(p for p in paths if p):
        env["PYTHONPATH"] = joined
    env.update(extra)
    return env


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")


def drop_proxy_variables() -> None:
    """Remove proxy settings from this process's environment, in any letter case: a crawl child calls it so no
    library it loads can route a request through a proxy, which would resolve names itself and bypass the
    crawler's pinned, vetted addresses. (child_environment never passes them; this is the second belt.)"""
    for name in list(os.environ):
        if name.lower() in PROXY_VARIABLES:
            del os.environ[name]
