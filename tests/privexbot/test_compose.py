"""Docker is not available on the machines this project is developed and tested on, so the compose file is
validated instead of run: parsed, and every app service's command, health check, environment and volumes checked
against what the production-mode test runs (tests/production_mode.py; tests/browser/test_production_walk.py runs
those very commands). The Dockerfile and the systemd units are held to the same start scripts."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests import production_mode as prod

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_DIR = "/app"  # the image's WORKDIR
SYSTEMD_DIR = "/opt/privexbot"  # the units' WorkingDirectory
STORAGE_PATH = f"{APP_DIR}/var/storage"  # PERMANENT_STORAGE_PATH's default inside the image
APP_SERVICES = {
    "web": (prod.WEB_COMMAND, prod.WEB_HEALTHCHECK),
    "worker": (prod.WORKER_COMMAND, prod.WORKER_HEALTHCHECK),
}
UNITS = {"privexbot-web.service": prod.WEB_COMMAND, "privexbot-worker@.service": prod.WORKER_COMMAND}


def setting_names(settings_source: str) -> set[str]:
    """The variables settings.py reads (the env_* helpers and its throttle-rate reader), as test_env_example does."""
    return set(re.findall(r'\b(?:env_\w+|_rate)\(\s*"([A-Z][A-Z0-9_]*)"', settings_source))


def env_example(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.M))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _command(value) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else list(value or [])


def _volume_target(volume) -> str:
    if isinstance(volume, dict):
        return volume.get("target", "")
    parts = str(volume).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def deployment_problems(
    compose: dict, *, dockerfile: str, units: dict[str, str], settings_source: str, example: dict[str, str]
) -> list[str]:
    """Everything in the deployment files that differs from the production-mode test run; [] when they agree."""
    problems = []
    known = setting_names(settings_source)
    required = [name for name in prod.REQUIRED_VARIABLES if name in known]  # METRICS_TOKEN once it is a setting
    services = compose.get("services") or {}

    instructions = _dockerfile_instructions(dockerfile)
    image_static_root = None
    for instruction, args in instructions:
        if instruction == "ENV" and (m := re.search(r"\bSTATIC_ROOT=(\S+)", args)):
            image_static_root = m[1]
    collect = [args for instruction, args in instructions if instruction == "RUN" and "collectstatic" in args]
    if not collect:
        problems.append("Dockerfile: no RUN collectstatic (the image must carry the hashed static files)")
    elif "--noinput" not in collect[0]:
        problems.append("Dockerfile: collectstatic without --noinput")
    if image_static_root is None:
        problems.append("Dockerfile: no ENV STATIC_ROOT=... for the collected files")
    elif collect and instructions.index(("RUN", collect[0])) < next(
        i for i, (ins, args) in enumerate(instructions) if ins == "ENV" and "STATIC_ROOT=" in args
    ):
        problems.append("Dockerfile: collectstatic runs before STATIC_ROOT is set (files land elsewhere)")
    cmds = [args for instruction, args in instructions if instruction == "CMD"]
    if not cmds or json.loads(cmds[-1]) != prod.WEB_COMMAND:
        problems.append(f"Dockerfile: CMD must be {json.dumps(prod.WEB_COMMAND)}, got {cmds[-1] if cmds else None}")

    shared_named_volumes: dict[str, set[str]] = {}
    for name, (command, healthcheck) in APP_SERVICES.items():
        service = services.get(name)
        if service is None:
            problems.append(f"{name}: no such service")
            continue
        if _command(service.get("command")) != command:
            problems.append(f"{name}: command {service.get('command')!r} is not {command!r}")
        test = _command((service.get("healthcheck") or {}).get("test"))
        if test != ["CMD", *healthcheck]:
            problems.append(f"{name}: healthcheck {test!r} is not {['CMD', *healthcheck]!r}")
        build = service.get("build") or {}
        if not isinstance(build, dict) or build.get("dockerfile") != "deploy/Dockerfile":
            problems.append(f"{name}: not built from deploy/Dockerfile")

        env = _environment(service)
        for key in sorted(env):
            base = key.removesuffix("_FILE")
            if key not in known and base not in known and key not in prod.START_VARIABLES:
                problems.append(f"{name}: {key} is neither a setting (privexbot/settings.py) nor a start variable")
        file_provided = {k for k, v in example.items() if v.strip()} if service.get("env_file") else set()
        for key in required:
            given = env.get(key, "").strip() or env.get(f"{key}_FILE", "").strip()
            if not given and key not in file_provided:
                problems.append(f"{name}: {key} is required in production and not provided")
        if env.get("DEBUG", "false").strip().lower() not in {"false", "0", "no", "off"}:
            problems.append(f"{name}: DEBUG must be false")
        if "STORAGE_BACKEND" in known and env.get("STORAGE_BACKEND") != "database":
            problems.append(f"{name}: STORAGE_BACKEND must be database (the shared store the test runs with)")
        if image_static_root and env.get("STATIC_ROOT", image_static_root) != image_static_root:
            problems.append(f"{name}: STATIC_ROOT {env['STATIC_ROOT']} is not the image's {image_static_root}")
        for volume in service.get("volumes") or []:
            target = _volume_target(volume)
            if target.rstrip("/") == STORAGE_PATH or target.startswith(STORAGE_PATH + "/"):
                problems.append(f"{name}: a volume at {target}: files are in the database (STORAGE_BACKEND)")
            if not isinstance(volume, dict) and not str(volume).startswith(("/", ".")):
                shared_named_volumes.setdefault(str(volume).split(":")[0], set()).add(name)

        if name == "web":
            port = env.get("BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
            published = [str(p).rsplit(":", 1)[-1] for p in service.get("ports") or []]
            if port not in published:
                problems.append(f"web: port {port} (BIND: /health, /metrics) is not published ({published})")
            if "METRICS_TOKEN" in known and not env.get("METRICS_TOKEN", "").strip():
                problems.append("web: METRICS_TOKEN not set: a scraper could not authenticate to /metrics")
    for volume, users in shared_named_volumes.items():
        if users == set(APP_SERVICES):
            problems.append(f"volume {volume} is shared by web and worker: the production-mode test shares none")

    for unit, command in UNITS.items():
        text = units.get(unit)
        if text is None:
            problems.append(f"systemd: {unit} missing")
            continue
        starts = re.findall(r"^ExecStart=(.*)$", text, re.M)
        expected = [f"{SYSTEMD_DIR}/{command[0]}", *command[1:]]
        if [shlex.split(s) for s in starts] != [expected]:
            problems.append(f"systemd {unit}: ExecStart {starts} is not {' '.join(expected)}")
        if f"WorkingDirectory={SYSTEMD_DIR}" not in text:
            problems.append(f"systemd {unit}: WorkingDirectory is not {SYSTEMD_DIR}")
    return problems


def _real_inputs() -> dict:
    return {
        "compose": yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()),
        "dockerfile": (DEPLOY / "Dockerfile").read_text(),
        "units": {unit: (DEPLOY / "systemd" / unit).read_text() for unit in UNITS},
        "settings_source": (ROOT / "privexbot" / "settings.py").read_text(),
        "example": env_example((DEPLOY / ".env.example").read_text()),
    }


def test_the_deployment_files_run_what_the_production_mode_test_runs():
    assert deployment_problems(**_real_inputs()) == []


def test_the_start_scripts_are_executable_shell_scripts():
    for command in (prod.WEB_COMMAND, prod.WORKER_COMMAND):
        script = ROOT / command[0]
        assert os.access(script, os.X_OK), script
        assert script.read_text().startswith("#!/bin/sh\n")  # python:3.11-slim has no bash guarantee; sh it is
        assert "exec " in script.read_text()  # the server replaces the shell, so it receives SIGTERM itself


def _web(inputs):
    return inputs["compose"]["services"]["web"]


def _worker(inputs):
    return inputs["compose"]["services"]["worker"]


BREAKAGES = {
    "web runs gunicorn directly": (
        lambda i: _web(i).update(command="gunicorn privexbot.wsgi:application"),
        "web: command",
    ),
    "worker has no healthcheck": (lambda i: _worker(i).pop("healthcheck"), "worker: healthcheck"),
    "an unknown variable": (
        lambda i: _worker(i)["environment"].update(SECRET_KEYS="x"),
        "worker: SECRET_KEYS is neither a setting",
    ),
    "no database url": (
        lambda i: _web(i)["environment"].pop("DATABASE_URL"),
        "web: DATABASE_URL is required in production",
    ),
    "local storage with a volume": (
        lambda i: (
            _worker(i)["environment"].update(STORAGE_BACKEND="local"),
            _worker(i).update(volumes=["storage:/app/var/storage"]),
        ),
        "worker: STORAGE_BACKEND must be database",
    ),
    "a storage volume": (
        lambda i: _web(i).update(volumes=["storage:/app/var/storage"]),
        "web: a volume at /app/var/storage",
    ),
    "debug on": (lambda i: _web(i)["environment"].update(DEBUG="true"), "web: DEBUG must be false"),
    "static root elsewhere": (
        lambda i: _web(i)["environment"].update(STATIC_ROOT="/app/var/static"),
        "web: STATIC_ROOT /app/var/static is not the image's",
    ),
    "web port not published": (lambda i: _web(i).update(ports=["127.0.0.1:8080:8080"]), "web: port 8000"),
    "no collectstatic in the image": (
        lambda i: i.update(dockerfile=i["dockerfile"].replace("collectstatic --noinput", "check")),
        "Dockerfile: no RUN collectstatic",
    ),
    "image CMD differs": (
        lambda i: i.update(dockerfile=i["dockerfile"].replace('CMD ["deploy/start-web.sh"]', 'CMD ["gunicorn"]')),
        "Dockerfile: CMD must be",
    ),
    "systemd starts gunicorn itself": (
        lambda i: i["units"].update(
            {
                "privexbot-web.service": i["units"]["privexbot-web.service"].replace(
                    "ExecStart=/opt/privexbot/deploy/start-web.sh", "ExecStart=/opt/privexbot/.venv/bin/gunicorn x"
                )
            }
        ),
        "systemd privexbot-web.service: ExecStart",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_copy_is_reported(breakage):
    inputs = copy.deepcopy(_real_inputs())
    # A merge key (<<: *environment) gives both services the same dict: break only the service named.
    for service in APP_SERVICES:
        svc = inputs["compose"]["services"][service]
        svc["environment"] = dict(svc["environment"])
    breaks, expected = BREAKAGES[breakage]
    breaks(inputs)
    problems = deployment_problems(**inputs)
    assert any(expected in problem for problem in problems), problems


def test_required_production_variables_come_from_settings():
    """The checker's view of settings.py is the real one (a stale pattern would make it check nothing)."""
    known = setting_names((ROOT / "privexbot" / "settings.py").read_text())
    assert {"SECRET_KEY", "ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "API_THROTTLE_USER"} <= known
