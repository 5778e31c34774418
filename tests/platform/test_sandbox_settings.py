"""XRM_SANDBOX_* settings: read from the environment, checked, and documented for users."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from xrm.platform.settings import SandboxSettings, Settings
from xrm.schemas.rule_code import BUILTIN_NAMES, MODULES, RULE_NAMES

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflows-sandbox.md"


def test_the_sandbox_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XRM_SANDBOX_WORKERS", "4")
    monkeypatch.setenv("XRM_SANDBOX_CPU_SECONDS", "0.5")
    monkeypatch.setenv("XRM_SANDBOX_MAX_MEMORY_MB", "1024")
    monkeypatch.setenv("XRM_SANDBOX_MEMORY_MB", "256")
    sandbox = Settings.from_env().sandbox
    assert (sandbox.workers, sandbox.cpu_seconds, sandbox.memory_mb) == (4, 0.5, 256)
    assert sandbox.max_memory_mb == 1024
    assert Settings().sandbox == SandboxSettings()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("XRM_SANDBOX_CPU_SECONDS", "soon", "XRM_SANDBOX_CPU_SECONDS must be a number of seconds"),
        ("XRM_SANDBOX_WALL_SECONDS", "0", "must be more than 0 and less than a day"),
        ("XRM_SANDBOX_WORKERS", "0", "XRM_SANDBOX_WORKERS must be at least 1"),
        ("XRM_SANDBOX_CPU_SECONDS", "11", "XRM_SANDBOX_CPU_SECONDS (11) is above "),
        ("XRM_SANDBOX_MEMORY_MB", "8", "XRM_SANDBOX_MEMORY_MB must be at least 16"),
    ],
)
def test_bad_sandbox_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(problem)):
        Settings.from_env()


def test_the_user_documentation_lists_every_name_module_and_setting() -> None:
    text = DOC.read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    assert words >= BUILTIN_NAMES
    assert words >= RULE_NAMES
    for module, names in MODULES.items():
        assert module in words and set(names) <= words, module
    for field in dataclasses.fields(SandboxSettings):
        assert f"XRM_SANDBOX_{field.name.upper()}" in text, field.name
