"""SQL for web access: sign-in links, browser sessions and sign-in attempts.

Every call runs inside the caller's transaction. Links and sessions are keyed by the SHA-256
of their secret; the secret itself is never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from meterstack.store.rows import Registered, SessionRow
from meterstack.store.statements import Statements


class SqlWebAccess:
    """Sign-in links, browser sessions and sign-in attempts (``store.ports.WebAccess``)."""

    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert_link(
        self, token_hash: str, account_id: str, now: datetime, expires_at: datetime
    ) -> None:
        self._sql.execute(
            "INSERT INTO signin_links (token_hash, account_id, created_at, expires_at, used_at) "
            "VALUES (:token_hash, :account_id, :now, :expires_at, NULL)",
            {
                "token_hash": token_hash,
                "account_id": account_id,
                "now": self._sql.ts(now),
                "expires_at": self._sql.ts(expires_at),
            },
        )

    def use_link(self, token_hash: str, now: datetime) -> str | None:
        """Mark a live link used and return its account; None when it is unknown, used or expired.

        One conditional UPDATE: of two requests redeeming the same link at once, exactly one sees
        the row it changed (the other waits on the row lock, then finds ``used_at`` set).
        """
        row = self._sql.one(
            "UPDATE signin_links SET used_at = :now WHERE token_hash = :token_hash "
            "AND used_at IS NULL AND expires_at > :now RETURNING account_id",
            {"token_hash": token_hash, "now": self._sql.ts(now)},
        )
        return None if row is None else str(row[0])

    def insert_session(self, row: SessionRow) -> None:
        self._sql.execute(
            "INSERT INTO web_sessions (id_hash, kind, account_id, csrf_token, created_at, "
            "expires_at, ended_at, revoked_keys, operator_fingerprint, flash) VALUES (:id_hash, "
            ":kind, :account_id, :csrf_token, :created_at, :expires_at, NULL, :revoked_keys, "
            ":operator_fingerprint, NULL)",
            {
                "id_hash": row.id_hash,
                "kind": row.kind,
                "account_id": row.account_id,
                "csrf_token": row.csrf_token,
                "created_at": self._sql.ts(row.created_at),
                "expires_at": self._sql.ts(row.expires_at),
                "revoked_keys": row.revoked_keys,
                "operator_fingerprint": row.operator_fingerprint,
            },
        )

    def live_session(self, id_hash: str, now: datetime) -> SessionRow | None:
        """The session if it has not ended or expired."""
        row = self._sql.one(
            "SELECT id_hash, kind, account_id, csrf_token, created_at, expires_at, revoked_keys, "
            "operator_fingerprint, flash FROM web_sessions WHERE id_hash = :id_hash "
            "AND ended_at IS NULL AND expires_at > :now",
            {"id_hash": id_hash, "now": self._sql.ts(now)},
        )
        if row is None:
            return None
        return SessionRow(
            id_hash=row[0],
            kind=row[1],
            account_id=row[2],
            csrf_token=row[3],
            created_at=self._sql.dialect.from_ts(row[4]),
            expires_at=self._sql.dialect.from_ts(row[5]),
            revoked_keys=int(row[6]),
            operator_fingerprint=row[7],
            flash=row[8],
        )

    def end_session(self, id_hash: str, now: datetime) -> None:
        self._sql.execute(
            "UPDATE web_sessions SET ended_at = :now WHERE id_hash = :id_hash AND ended_at IS NULL",
            {"id_hash": id_hash, "now": self._sql.ts(now)},
        )

    def set_flash(self, id_hash: str, flash: str | None) -> None:
        self._sql.execute(
            "UPDATE web_sessions SET flash = :flash WHERE id_hash = :id_hash",
            {"id_hash": id_hash, "flash": flash},
        )

    def revoked_key_count(self, account_id: str, kinds: Sequence[str]) -> int:
        """How many of the account's keys of ``kinds`` were ever revoked (it only grows)."""
        within, params = self._sql.one_of("kind", kinds, "k")
        row = self._sql.one(
            "SELECT COUNT(*) FROM api_keys WHERE account_id = :account_id "
            f"AND revoked_at IS NOT NULL AND {within}",
            {"account_id": account_id, **params},
        )
        return int(row[0])

    def registered_account(self, email: str) -> Registered | None:
        """The registered account with ``email`` (compared without regard to case)."""
        row = self._sql.one(
            "SELECT id, password_hash FROM accounts WHERE lower(email) = lower(:email) "
            "AND anonymous = :registered",
            {"email": email, "registered": False},
        )
        return None if row is None else Registered(str(row[0]), row[1])

    def admit_attempt(
        self, subject: str, now: datetime, window_start_after: datetime, most: int
    ) -> bool:
        """Count one attempt of ``subject`` if its window has room; False when it has none.

        A fixed window: the row's window starts at the first attempt and lasts until
        ``window_start_after`` passes it, when the next attempt starts a new one. The bound is
        checked in the same statement that counts (no read-then-write race between servers).
        """
        row = self._sql.one(
            "INSERT INTO signin_attempts (subject, window_start, attempts) "
            "VALUES (:subject, :now, 1) "
            "ON CONFLICT (subject) DO UPDATE SET "
            "attempts = CASE WHEN signin_attempts.window_start <= :cutoff THEN 1 "
            "ELSE signin_attempts.attempts + 1 END, "
            "window_start = CASE WHEN signin_attempts.window_start <= :cutoff THEN :now "
            "ELSE signin_attempts.window_start END "
            "WHERE signin_attempts.window_start <= :cutoff OR signin_attempts.attempts < :most "
            "RETURNING attempts",
            {
                "subject": subject,
                "now": self._sql.ts(now),
                "cutoff": self._sql.ts(window_start_after),
                "most": most,
            },
        )
        return row is not None

    def window_of(self, subject: str) -> datetime | None:
        """When the subject's current window started."""
        row = self._sql.one(
            "SELECT window_start FROM signin_attempts WHERE subject = :subject",
            {"subject": subject},
        )
        return None if row is None else self._sql.dialect.from_ts(row[0])

    def forget_attempts(self, subject: str) -> None:
        self._sql.execute(
            "DELETE FROM signin_attempts WHERE subject = :subject", {"subject": subject}
        )
