"""Passwords are stored as argon2id hashes at argon2-cffi's recommended cost.

The suite hashes with the smallest cost (tests/conftest.py, for time); this checks that the
platform itself does not.
"""

from __future__ import annotations

import argon2
import pytest

from xrm.platform import identity


def test_the_platform_hashes_with_argon2id_at_the_recommended_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(identity, "_hashers", [])  # as in a server: made on first use
    stored = identity.hash_password("correct horse battery staple")
    used = argon2.extract_parameters(stored)
    assert used == argon2.profiles.get_default_parameters()
    assert used.type is argon2.Type.ID
    assert argon2.PasswordHasher().verify(stored, "correct horse battery staple")
