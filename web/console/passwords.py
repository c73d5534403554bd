"""Password hashing with argon2id (argon2-cffi), and the dummy hash that evens out login timing."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
#: Verified against when the e-mail is unknown, so "no such user" costs what "wrong password" costs.
_DUMMY = _HASHER.hash("not-a-password-anyone-has")
MIN_LENGTH = 12


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with ``None`` (unknown user) it still spends one verification."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
