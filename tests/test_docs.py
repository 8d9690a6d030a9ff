"""Documentation pins: every setting is documented, the README opens with the two commands."""

from __future__ import annotations

from pathlib import Path

from workhorse.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        f"WORKHORSE_{name.upper()}"
        for name in Settings.model_fields
        if f"WORKHORSE_{name.upper()}" not in text
    ]
    assert not missing, f"undocumented settings: {missing}"


def test_every_setting_has_a_docstring() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert not undocumented


def test_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks = [line for line in lines[:30] if line.startswith("make ")]
    assert blocks[:2] == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
