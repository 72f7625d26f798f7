import pytest
from django.core.exceptions import ImproperlyConfigured

from privexbot import env


@pytest.mark.parametrize(
    ("raw", "expected"), [("50MB", 50 * 1024**2), ("1048576", 1048576), ("2 gb", 2 * 1024**3), ("10K", 10240)]
)
def test_sizes_parse(monkeypatch, raw, expected):
    monkeypatch.setenv("X_SIZE", raw)
    assert env.env_size("X_SIZE", "1MB") == expected


@pytest.mark.parametrize(
    ("helper", "raw"),
    [
        (lambda: env.env_size("X", "1MB"), "fifty"),
        (lambda: env.env_int("X", 1), "12abc"),
        (lambda: env.env_bool("X", True), "maybe"),
        (lambda: env.env_int("X", 1, minimum=5), "3"),
        (lambda: env.env_choice("X", "INFO", {"INFO", "DEBUG"}), "LOUD"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(monkeypatch, helper, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ImproperlyConfigured, match="X"):
        helper()


def test_defaults_and_lists(monkeypatch):
    monkeypatch.delenv("X", raising=False)
    assert env.env_int("X", 7) == 7
    assert env.env_bool("X", True) is True
    monkeypatch.setenv("X", " pdf, docx ,,txt ")
    assert env.env_list("X", []) == ["pdf", "docx", "txt"]


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("X", raising=False)
    monkeypatch.setenv("X_FILE", str(secret))
    assert env.env_str("X") == "s3cret"


def test_choices_come_back_as_spelled_and_floats_have_bounds(monkeypatch):
    monkeypatch.setenv("X", " RRF ")
    assert env.env_choice("X", "weighted", {"weighted", "rrf"}) == "rrf"
    monkeypatch.setenv("X", "info")
    assert env.env_choice("X", "INFO", {"INFO", "DEBUG"}) == "INFO"
    monkeypatch.setenv("X", "1.5")
    with pytest.raises(ImproperlyConfigured, match="X must be <= 1"):
        env.env_float("X", 0.5, minimum=0, maximum=1)


def test_child_environment_passes_the_basics_and_explicit_values_but_no_secret(monkeypatch):
    for secret in ("SECRET_KEY", "ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(secret, "do-not-leak")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("PYTHONPATH", "/opt/extra")
    monkeypatch.setenv("https_proxy", "http://proxy:3128")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    child = env.child_environment(pythonpath=["/srv/app"], PGPASSWORD="for-this-child")
    assert "do-not-leak" not in child.values()
    assert child["PATH"] == "/usr/bin:/bin" and child["LC_ALL"] == "C.UTF-8"
    assert child["PYTHONPATH"] == "/srv/app:/opt/extra"
    assert child["PGPASSWORD"] == "for-this-child"  # an explicit extra, for the child that needs it
    assert set(env.OFFLINE_ENVIRONMENT) <= set(child) and child["HF_HUB_OFFLINE"] == "1"
    assert "https_proxy" not in child
    assert env.child_environment(inherit=["https_proxy"])["https_proxy"] == "http://proxy:3128"


def test_parse_child_and_pg_tools_get_no_secret(monkeypatch, db):
    from kb.pipeline.parse import _child_env
    from privexbot.backups.postgres import libpq_env

    monkeypatch.setenv("SECRET_KEY", "do-not-leak")
    monkeypatch.setenv("ENCRYPTION_KEY", "do-not-leak")
    parse_env, pg_env = _child_env(), libpq_env()
    assert "do-not-leak" not in [*parse_env.values(), *pg_env.values()]
    assert parse_env["OMP_NUM_THREADS"] == "1" and parse_env["UNSTRUCTURED_DISABLE_NOTICE"] == "1"
    assert pg_env["PGDATABASE"] and pg_env["PGHOST"]  # the connection, for pg_dump / pg_restore only
