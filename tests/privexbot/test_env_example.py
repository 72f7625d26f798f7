import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_documents_every_setting():
    source = (ROOT / "privexbot" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', source))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / "deploy" / ".env.example").read_text(), re.M))
    assert read, "no settings found: the pattern is out of date"
    assert read - documented == set()
