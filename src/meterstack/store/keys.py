"""SQL for API keys and account registration; every function runs inside the caller's transaction.

The key text itself is never stored: a row holds the non-secret lookup id and a hash of the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meterstack.errors import EmailTakenError
from meterstack.store.sql import Transaction
from meterstack.store.statements import UNIQUE_VIOLATION

_COLUMNS = (
    "id, account_id, project_id, kind, lookup, secret_hash, name, modules, quotas, "
    "created_at, revoked_at"
)


@dataclass(frozen=True)
class ApiKeyRow:
    id: str
    account_id: str
    project_id: str | None
    kind: str
    lookup: str
    secret_hash: str
    name: str | None
    #: The modules the key may use (A8); None = every module.
    modules: tuple[str, ...] | None
    #: Units per period per meter (A8); None = no quota.
    quotas: dict[str, int] | None
    created_at: datetime
    revoked_at: datetime | None


def insert_api_key(tx: Transaction, row: ApiKeyRow) -> None:
    tx.execute(
        f"INSERT INTO api_keys ({_COLUMNS}) VALUES (:id, :account_id, :project_id, :kind, "
        ":lookup, :secret_hash, :name, :modules, :quotas, :created_at, NULL)",
        {
            "id": row.id,
            "account_id": row.account_id,
            "project_id": row.project_id,
            "kind": row.kind,
            "lookup": row.lookup,
            "secret_hash": row.secret_hash,
            "name": row.name,
            "modules": None if row.modules is None else json.dumps(sorted(row.modules)),
            "quotas": None if row.quotas is None else json.dumps(row.quotas, sort_keys=True),
            "created_at": tx.ts(row.created_at),
        },
    )


def api_key(tx: Transaction, key_id: str) -> ApiKeyRow | None:
    row = tx.one(f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id", {"id": key_id})
    return None if row is None else _row(tx, row)


def api_key_by_lookup(tx: Transaction, lookup: str) -> ApiKeyRow | None:
    row = tx.one(f"SELECT {_COLUMNS} FROM api_keys WHERE lookup = :lookup", {"lookup": lookup})
    return None if row is None else _row(tx, row)


def account_api_keys(tx: Transaction, account_id: str, *, revoked: bool) -> list[ApiKeyRow]:
    """The account's keys, oldest first (then by id); revoked ones too when ``revoked``."""
    live = "" if revoked else " AND revoked_at IS NULL"
    rows = tx.all(
        f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = :account_id{live} "
        "ORDER BY created_at, id",
        {"account_id": account_id},
    )
    return [_row(tx, row) for row in rows]


def revoke_api_key(tx: Transaction, key_id: str, now: datetime) -> bool:
    """Mark a live key revoked; False if it was already revoked (or does not exist).

    The condition makes revocation happen once even when two callers race, so the key's
    resource slot is freed once.
    """
    row = tx.one(
        "UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL RETURNING id",
        {"id": key_id, "now": tx.ts(now)},
    )
    return row is not None


def project_key_ids(tx: Transaction, project_id: str) -> list[str]:
    """The live keys of a project."""
    rows = tx.all(
        "SELECT id FROM api_keys WHERE project_id = :project_id AND revoked_at IS NULL "
        "ORDER BY created_at, id",
        {"project_id": project_id},
    )
    return [str(row[0]) for row in rows]


def email_taken(tx: Transaction, email: str) -> bool:
    """Whether any account registered ``email``, compared without regard to case."""
    row = tx.one("SELECT 1 FROM accounts WHERE lower(email) = lower(:email)", {"email": email})
    return row is not None


def register_account(
    tx: Transaction,
    account_id: str,
    *,
    plan_id: str,
    email: str,
    name: str,
    password_hash: str,
) -> bool:
    """Turn an anonymous account into a registered one on ``plan_id``; False if not anonymous.

    Raises :class:`EmailTakenError` when a concurrent registration took ``email`` first (the
    unique constraint decides; the caller's transaction then rolls back).
    """
    try:
        row = tx.one(
            "UPDATE accounts SET plan_id = :plan_id, anonymous = :registered, email = :email, "
            "name = :name, password_hash = :password_hash "
            "WHERE id = :id AND anonymous = :anonymous RETURNING id",
            {
                "id": account_id,
                "plan_id": plan_id,
                "email": email,
                "name": name,
                "password_hash": password_hash,
                "registered": False,
                "anonymous": True,
            },
        )
    except UNIQUE_VIOLATION:
        raise EmailTakenError(
            f"an account with the email {email!r} already exists", email=email
        ) from None
    return row is not None


def _row(tx: Transaction, row: Any) -> ApiKeyRow:
    modules = None if row[7] is None else tuple(json.loads(row[7]))
    quotas = None if row[8] is None else {str(k): int(v) for k, v in json.loads(row[8]).items()}
    return ApiKeyRow(
        id=row[0],
        account_id=row[1],
        project_id=row[2],
        kind=row[3],
        lookup=row[4],
        secret_hash=row[5],
        name=row[6],
        modules=modules,
        quotas=quotas,
        created_at=tx.dialect.from_ts(row[9]),
        revoked_at=None if row[10] is None else tx.dialect.from_ts(row[10]),
    )
