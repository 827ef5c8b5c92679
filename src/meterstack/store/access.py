"""SQL for web access: sign-in links, browser sessions and sign-in attempts.

Every function runs inside the caller's transaction. Links and sessions are keyed by the SHA-256
of their secret; the secret itself is never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from meterstack.store.sql import Transaction


@dataclass(frozen=True)
class SessionRow:
    id_hash: str
    kind: str
    account_id: str | None
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    revoked_keys: int
    operator_fingerprint: str | None
    flash: str | None


@dataclass(frozen=True)
class Registered:
    """What a password sign-in needs of an account: its id and password hash."""

    account_id: str
    password_hash: str | None


def insert_link(
    tx: Transaction, token_hash: str, account_id: str, now: datetime, expires_at: datetime
) -> None:
    tx.execute(
        "INSERT INTO signin_links (token_hash, account_id, created_at, expires_at, used_at) "
        "VALUES (:token_hash, :account_id, :now, :expires_at, NULL)",
        {
            "token_hash": token_hash,
            "account_id": account_id,
            "now": tx.ts(now),
            "expires_at": tx.ts(expires_at),
        },
    )


def use_link(tx: Transaction, token_hash: str, now: datetime) -> str | None:
    """Mark a live link used and return its account; None when it is unknown, used or expired.

    One conditional UPDATE: of two requests redeeming the same link at once, exactly one sees
    the row it changed (the other waits on the row lock, then finds ``used_at`` set).
    """
    row = tx.one(
        "UPDATE signin_links SET used_at = :now WHERE token_hash = :token_hash "
        "AND used_at IS NULL AND expires_at > :now RETURNING account_id",
        {"token_hash": token_hash, "now": tx.ts(now)},
    )
    return None if row is None else str(row[0])


def insert_session(tx: Transaction, row: SessionRow) -> None:
    tx.execute(
        "INSERT INTO web_sessions (id_hash, kind, account_id, csrf_token, created_at, "
        "expires_at, ended_at, revoked_keys, operator_fingerprint, flash) VALUES (:id_hash, "
        ":kind, :account_id, :csrf_token, :created_at, :expires_at, NULL, :revoked_keys, "
        ":operator_fingerprint, NULL)",
        {
            "id_hash": row.id_hash,
            "kind": row.kind,
            "account_id": row.account_id,
            "csrf_token": row.csrf_token,
            "created_at": tx.ts(row.created_at),
            "expires_at": tx.ts(row.expires_at),
            "revoked_keys": row.revoked_keys,
            "operator_fingerprint": row.operator_fingerprint,
        },
    )


def live_session(tx: Transaction, id_hash: str, now: datetime) -> SessionRow | None:
    """The session if it has not ended or expired."""
    row = tx.one(
        "SELECT id_hash, kind, account_id, csrf_token, created_at, expires_at, revoked_keys, "
        "operator_fingerprint, flash FROM web_sessions WHERE id_hash = :id_hash "
        "AND ended_at IS NULL AND expires_at > :now",
        {"id_hash": id_hash, "now": tx.ts(now)},
    )
    if row is None:
        return None
    return SessionRow(
        id_hash=row[0],
        kind=row[1],
        account_id=row[2],
        csrf_token=row[3],
        created_at=tx.dialect.from_ts(row[4]),
        expires_at=tx.dialect.from_ts(row[5]),
        revoked_keys=int(row[6]),
        operator_fingerprint=row[7],
        flash=row[8],
    )


def end_session(tx: Transaction, id_hash: str, now: datetime) -> None:
    tx.execute(
        "UPDATE web_sessions SET ended_at = :now WHERE id_hash = :id_hash AND ended_at IS NULL",
        {"id_hash": id_hash, "now": tx.ts(now)},
    )


def set_flash(tx: Transaction, id_hash: str, flash: str | None) -> None:
    tx.execute(
        "UPDATE web_sessions SET flash = :flash WHERE id_hash = :id_hash",
        {"id_hash": id_hash, "flash": flash},
    )


def revoked_key_count(tx: Transaction, account_id: str, kinds: Sequence[str]) -> int:
    """How many of the account's keys of ``kinds`` were ever revoked (it only grows)."""
    within, params = tx.one_of("kind", kinds, "k")
    row = tx.one(
        "SELECT COUNT(*) FROM api_keys WHERE account_id = :account_id "
        f"AND revoked_at IS NOT NULL AND {within}",
        {"account_id": account_id, **params},
    )
    return int(row[0])


def registered_account(tx: Transaction, email: str) -> Registered | None:
    """The registered account with ``email`` (compared without regard to case)."""
    row = tx.one(
        "SELECT id, password_hash FROM accounts WHERE lower(email) = lower(:email) "
        "AND anonymous = :registered",
        {"email": email, "registered": False},
    )
    return None if row is None else Registered(str(row[0]), row[1])


def admit_attempt(
    tx: Transaction, subject: str, now: datetime, window_start_after: datetime, most: int
) -> bool:
    """Count one attempt of ``subject`` if its window has room; False when it has none.

    A fixed window: the row's window starts at the first attempt and lasts until
    ``window_start_after`` passes it, when the next attempt starts a new one. The bound is
    checked in the same statement that counts (no read-then-write race between servers).
    """
    row = tx.one(
        "INSERT INTO signin_attempts (subject, window_start, attempts) VALUES (:subject, :now, 1) "
        "ON CONFLICT (subject) DO UPDATE SET "
        "attempts = CASE WHEN signin_attempts.window_start <= :cutoff THEN 1 "
        "ELSE signin_attempts.attempts + 1 END, "
        "window_start = CASE WHEN signin_attempts.window_start <= :cutoff THEN :now "
        "ELSE signin_attempts.window_start END "
        "WHERE signin_attempts.window_start <= :cutoff OR signin_attempts.attempts < :most "
        "RETURNING attempts",
        {"subject": subject, "now": tx.ts(now), "cutoff": tx.ts(window_start_after), "most": most},
    )
    return row is not None


def window_of(tx: Transaction, subject: str) -> datetime | None:
    """When the subject's current window started."""
    row = tx.one(
        "SELECT window_start FROM signin_attempts WHERE subject = :subject", {"subject": subject}
    )
    return None if row is None else tx.dialect.from_ts(row[0])


def forget_attempts(tx: Transaction, subject: str) -> None:
    tx.execute("DELETE FROM signin_attempts WHERE subject = :subject", {"subject": subject})
