"""What registering an account takes (A7): a name, an email address and a password.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults): people choose them, so the hash
must be slow to guess against. Bad input is a precise 422 that changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from meterstack.errors import InvalidEmailError, InvalidInputError, PasswordTooShortError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200

_EMAIL_ADDRESS = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_PASSWORDS = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (slow on purpose: call it outside a transaction)."""
    return _PASSWORDS.hash(password)


#: Verified when no account has the address, so that both refusals take as long.
_NO_ACCOUNT_HASH = _PASSWORDS.hash("no account has this address")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the hash (slow on purpose: call it outside a transaction).

    ``None`` (no account, or one without a password) is verified against a stand-in hash and
    refused, in the same time as a wrong password.
    """
    try:
        _PASSWORDS.verify(password_hash or _NO_ACCOUNT_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def checked_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(f"name must be a text of 1 to {MAX_NAME_LENGTH} characters")
    return name.strip()


def checked_email(email: Any) -> str:
    """The address, lower-cased: one mailbox is one account whatever its spelling."""
    if (
        not isinstance(email, str)
        or len(email) > MAX_EMAIL_LENGTH
        or _EMAIL_ADDRESS.fullmatch(email) is None
    ):
        shown = repr(email)[:80] if isinstance(email, str) else type(email).__name__
        raise InvalidEmailError(f"email must be an address like name@example.com, got {shown}")
    return email.lower()


def check_password(password: Any) -> None:
    if not isinstance(password, str):
        raise InvalidInputError(
            f"password must be a text of at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShortError(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters long, got {len(password)}",
            min_length=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")
