"""The HTTP stack's version floors admit no release with a published parser advisory."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

FIXED_IN = {
    "python-multipart": Version("0.0.32"),
    "starlette": Version("1.6.0"),
    "h11": Version("0.16.0"),
}
"""The first release with every published advisory fixed (see pyproject.toml's comments)."""


def test_http_stack_floors_are_at_fixed_releases() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors: dict[str, Version] = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        for spec in requirement.specifier:
            if spec.operator in (">=", "=="):
                floors[requirement.name] = Version(spec.version)
    for name, fixed in FIXED_IN.items():
        assert name in floors, f"{name} has no version floor"
        assert floors[name] >= fixed, f"{name}>={floors[name]} admits releases before {fixed}"
