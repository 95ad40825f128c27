"""The README stays true: every setting documented, the two commands exist."""

from __future__ import annotations

import os
from pathlib import Path

from workers.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [
        f"CLAIMS_{n.upper()}" for n in Settings.model_fields if f"CLAIMS_{n.upper()}" not in README
    ]
    assert not missing, f"undocumented settings: {missing}"


def test_the_two_commands_are_executable_scripts() -> None:
    for cmd in ("./scripts/demo", "./scripts/test"):
        assert cmd in README
        path = REPO / cmd
        assert path.is_file() and os.access(path, os.X_OK)
    assert "./scripts/test" in (REPO / ".ci/run").read_text()
