"""One source for every setting: settings.py reads the environment (through privexbot/env.py), the rest of the
code reads `settings.NAME`. Checked on the syntax tree of every module of the project's packages."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
from django.conf import global_settings

ROOT = Path(__file__).resolve().parents[2]
NOT_PROJECT = {"tests", ".venv", "var"}
# The only modules that may read or write the process environment.
ENVIRON_ALLOWED = {
    "privexbot/settings.py",
    "privexbot/settings_test.py",
    "privexbot/env.py",
    "manage.py",
    "privexbot/wsgi.py",
    "privexbot/asgi.py",
}
_ENV_FUNCTIONS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def project_modules() -> list[Path]:
    """Every .py file of each top-level package (a folder with __init__.py) and at the top level (manage.py)."""
    packages = [d for d in ROOT.iterdir() if d.is_dir() and d.name not in NOT_PROJECT and (d / "__init__.py").exists()]
    files = [f for d in packages for f in d.rglob("*.py") if NOT_PROJECT.isdisjoint(f.relative_to(ROOT).parts)]
    return sorted([*ROOT.glob("*.py"), *files])


def environ_uses(tree: ast.AST) -> list[int]:
    """Lines that touch os.environ / os.getenv / os.putenv ... (attribute access or `from os import ...`)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _ENV_FUNCTIONS:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in _ENV_FUNCTIONS for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


def _is_settings(node: ast.AST) -> bool:
    """`settings` or `<anything>.settings` (django.conf.settings)."""
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )


def getattr_defaults(tree: ast.AST) -> list[int]:
    """Lines with getattr(settings, NAME, default): a second, silent source of a setting's default."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 3
        and _is_settings(node.args[0])
    ]


def imports_django_settings(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "django.conf"
        and any(alias.name == "settings" and alias.asname is None for alias in node.names)
        for node in ast.walk(tree)
    )


def settings_read(tree: ast.AST) -> dict[str, int]:
    """UPPER_CASE names read as settings.NAME -> first line."""
    names: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_settings(node.value) and node.attr.isupper():
            names.setdefault(node.attr, node.lineno)
    return names


def defined_settings(tree: ast.Module) -> set[str]:
    """Names assigned at module level in settings.py (inside if/else and loops too, not inside functions)."""
    names: set[str] = set()

    def visit(statements):
        for node in statements:
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets = [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
            for block in ("body", "orelse", "finalbody"):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    visit(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(tree.body)
    return {name for name in names if name.isupper()}


@functools.cache
def parsed() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))) for path in project_modules()]


def test_the_walk_covers_the_project_packages():
    rels = {rel for rel, _ in parsed()}
    assert {"manage.py", "privexbot/settings.py", "kb/search/types.py", "drafts/crawler/handle.py"} <= rels
    assert not any(rel.startswith(("tests/", ".venv/", "var/")) for rel in rels)


def test_no_environment_access_outside_settings():
    found = [f"{rel}:{line}" for rel, tree in parsed() if rel not in ENVIRON_ALLOWED for line in environ_uses(tree)]
    assert found == [], "read settings in privexbot/settings.py; give child processes privexbot.env.child_environment()"


def test_no_getattr_of_settings_with_a_default():
    found = [f"{rel}:{line}" for rel, tree in parsed() for line in getattr_defaults(tree)]
    assert found == [], "define the setting (with its default) in privexbot/settings.py and read settings.NAME"


def test_every_setting_read_is_defined_in_settings_py():
    defined = defined_settings(ast.parse((ROOT / "privexbot" / "settings.py").read_text()))
    builtin = {name for name in dir(global_settings) if name.isupper()}
    missing = [
        f"{rel}:{line} settings.{name}"
        for rel, tree in parsed()
        if imports_django_settings(tree)
        for name, line in settings_read(tree).items()
        if name not in defined | builtin
    ]
    assert missing == []


# ------------------------------------------------------------------------------- the checks themselves


@pytest.mark.parametrize(
    "source",
    [
        "import os\nx = os.environ.get('X')",
        "import os\nos.environ.setdefault('X', '1')",
        "import os\nenv = dict(os.environ)",
        "import os\nx = os.getenv('X')",
        "from os import environ",
    ],
)
def test_environment_access_is_found(source):
    assert environ_uses(ast.parse(source)) == [source.count("\n") + 1]


def test_getattr_with_a_default_is_found_and_without_one_is_not():
    tree = ast.parse(
        "from django.conf import settings\n"
        "a = getattr(settings, 'SEARCH_RRF_K', 30)\n"
        "b = getattr(django.conf.settings, name, None)\n"
        "c = getattr(settings, 'DEBUG')\n"
        "d = getattr(other, 'X', 1)\n"
    )
    assert getattr_defaults(tree) == [2, 3]


def test_settings_definitions_and_reads_are_found():
    tree = ast.parse(
        "A = 1\nif A:\n    B: int = 2\nelse:\n    C = D = 3\nfor _x in []:\n    E = 4\ndef f():\n    F = 5"
    )
    assert defined_settings(tree) == {"A", "B", "C", "D", "E"}
    reads = ast.parse("from django.conf import settings\nx = settings.FOO + settings.lower\ny = settings.BAR")
    assert imports_django_settings(reads)
    assert settings_read(reads) == {"FOO": 2, "BAR": 3}
