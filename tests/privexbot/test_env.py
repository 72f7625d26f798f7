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
