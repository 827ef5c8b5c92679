"""SQL of catalog versions, accounts, their overrides, switches and packs (D14)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from meterstack.errors import EmailTakenError
from meterstack.rules.terms import PROJECT_KIND, AccountState, LimitOverride
from meterstack.store.rows import AccountOnCatalog, AccountRow, StoredCatalog
from meterstack.store.statements import UNIQUE_VIOLATION, Statements
from meterstack.store.wallet import from_micros, optional_micros


class SqlAccounts:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def stored_catalog(self, name: str, version: int) -> StoredCatalog | None:
        row = self._sql.one(
            "SELECT hash, content FROM catalog_versions WHERE name = :name AND version = :version",
            {"name": name, "version": version},
        )
        return None if row is None else StoredCatalog(str(row[0]), str(row[1]))

    def catalog_content(self, content_hash: str) -> str | None:
        row = self._sql.one(
            "SELECT content FROM catalog_versions WHERE hash = :hash", {"hash": content_hash}
        )
        return None if row is None else str(row[0])

    def insert_catalog(
        self, content_hash: str, name: str, version: int, content: str, now: datetime
    ) -> None:
        self._sql.execute(
            "INSERT INTO catalog_versions (hash, name, version, content, created_at) "
            "VALUES (:hash, :name, :version, :content, :created_at) ON CONFLICT DO NOTHING",
            {
                "hash": content_hash,
                "name": name,
                "version": version,
                "content": content,
                "created_at": self._sql.ts(now),
            },
        )

    def insert(self, row: AccountRow) -> None:
        """Raises :class:`EmailTakenError` when a concurrent creation took the email first."""
        try:
            self._insert(row)
        except UNIQUE_VIOLATION:
            raise EmailTakenError(
                f"an account with the email {row.email!r} already exists", email=row.email
            ) from None

    def _insert(self, row: AccountRow) -> None:
        self._sql.execute(
            "INSERT INTO accounts (id, catalog_hash, plan_id, billing_interval, status, "
            "period_anchor, created_at, version, anonymous, email, name) VALUES (:id, "
            ":catalog_hash, :plan_id, :billing_interval, :status, :period_anchor, :created_at, "
            ":version, :anonymous, :email, :name)",
            {
                "id": row.id,
                "catalog_hash": row.catalog_hash,
                "plan_id": row.plan_id,
                "billing_interval": row.billing_interval,
                "status": row.status,
                "period_anchor": self._sql.ts(row.period_anchor),
                "created_at": self._sql.ts(row.created_at),
                "version": row.version,
                "anonymous": row.anonymous,
                "email": row.email,
                "name": row.name,
            },
        )
        self._sql.execute(
            "INSERT INTO plan_history (account_id, started_at, seq, plan_id, billing_interval, "
            "catalog_hash) VALUES (:id, :created_at, 1, :plan_id, :interval, :catalog_hash)",
            {
                "id": row.id,
                "created_at": self._sql.ts(row.created_at),
                "plan_id": row.plan_id,
                "interval": row.billing_interval,
                "catalog_hash": row.catalog_hash,
            },
        )

    def get(self, account_id: str) -> AccountRow | None:
        row = self._sql.one(
            "SELECT id, catalog_hash, plan_id, billing_interval, status, period_anchor, "
            "created_at, version, anonymous, email, name FROM accounts WHERE id = :id",
            {"id": account_id},
        )
        if row is None:
            return None
        return AccountRow(
            id=row[0],
            catalog_hash=row[1],
            plan_id=row[2],
            billing_interval=row[3],
            status=row[4],
            period_anchor=self._sql.dialect.from_ts(row[5]),
            created_at=self._sql.dialect.from_ts(row[6]),
            version=int(row[7]),
            anonymous=bool(row[8]),
            email=row[9],
            name=row[10],
        )

    def version(self, account_id: str) -> int | None:
        row = self._sql.one("SELECT version FROM accounts WHERE id = :id", {"id": account_id})
        return None if row is None else int(row[0])

    def bump_version(self, account_id: str) -> int:
        row = self._sql.one(
            "UPDATE accounts SET version = version + 1 WHERE id = :id RETURNING version",
            {"id": account_id},
        )
        return int(row[0])

    def state(self, account_id: str) -> AccountState | None:
        account = self.get(account_id)
        if account is None:
            return None
        params = {"account_id": account_id}
        overrides = {
            (row[0], row[1]): LimitOverride(
                limit=None if row[2] else int(row[3]),
                grace_percent=None if row[4] is None else Decimal(row[4]),
            )
            for row in self._sql.all(
                "SELECT project_id, item, unlimited, limit_value, grace_percent "
                "FROM limit_overrides WHERE account_id = :account_id",
                params,
            )
        }
        switches = {
            (row[0], row[1]): bool(row[2])
            for row in self._sql.all(
                "SELECT project_id, item, enabled FROM overage_switches "
                "WHERE account_id = :account_id",
                params,
            )
        }
        packs = tuple(
            row[0]
            for row in self._sql.all(
                "SELECT pack_id FROM account_packs WHERE account_id = :account_id "
                "ORDER BY granted_at, id",
                params,
            )
        )
        projects = frozenset(
            row[0]
            for row in self._sql.all(
                "SELECT id FROM resources WHERE account_id = :account_id AND kind = :kind",
                {**params, "kind": PROJECT_KIND},
            )
        )
        features: dict[str, bool | str] = {
            row[0]: {"true": True, "false": False}.get(row[1], row[1])
            for row in self._sql.all(
                "SELECT feature, value FROM feature_overrides WHERE account_id = :account_id",
                params,
            )
        }
        prices = tuple(
            (str(row[0]), str(row[1]))
            for row in self._sql.all(
                "SELECT target, value FROM price_overrides WHERE account_id = :account_id "
                "ORDER BY target",
                params,
            )
        )
        pending = self._sql.one(
            "SELECT effective_at FROM pending_changes WHERE account_id = :account_id", params
        )
        reload = self._sql.one(
            "SELECT threshold, owed FROM wallet_settings WHERE account_id = :account_id", params
        )
        return AccountState(
            account_id=account.id,
            plan_id=account.plan_id,
            catalog_hash=account.catalog_hash,
            version=account.version,
            period_anchor=account.period_anchor,
            overrides=overrides,
            packs=packs,
            switches=switches,
            projects=projects,
            features=features,
            prices=prices,
            pending_at=None if pending is None else self._sql.dialect.from_ts(pending[0]),
            reload_threshold=None if reload is None else optional_micros(reload[0]),
            wallet_owed=Decimal(0) if reload is None else from_micros(reload[1]),
        )

    def set_override(
        self, account_id: str, project_id: str, item: str, override: LimitOverride
    ) -> None:
        self._sql.execute(
            "INSERT INTO limit_overrides (account_id, project_id, item, unlimited, limit_value, "
            "grace_percent) VALUES (:account_id, :project_id, :item, :unlimited, :limit_value, "
            ":grace) ON CONFLICT (account_id, project_id, item) DO UPDATE SET "
            "unlimited = excluded.unlimited, limit_value = excluded.limit_value, "
            "grace_percent = excluded.grace_percent",
            {
                "account_id": account_id,
                "project_id": project_id,
                "item": item,
                "unlimited": override.limit is None,
                "limit_value": override.limit,
                "grace": None if override.grace_percent is None else str(override.grace_percent),
            },
        )

    def set_feature_override(self, account_id: str, feature: str, value: bool | str | None) -> None:
        """Give one account its own value of a feature (D14); None removes the override."""
        params = {"account_id": account_id, "feature": feature}
        if value is None:
            self._sql.execute(
                "DELETE FROM feature_overrides WHERE account_id = :account_id "
                "AND feature = :feature",
                params,
            )
            return
        stored = value if isinstance(value, str) else ("true" if value else "false")
        self._sql.execute(
            "INSERT INTO feature_overrides (account_id, feature, value) VALUES (:account_id, "
            ":feature, :value) ON CONFLICT (account_id, feature) DO UPDATE SET "
            "value = excluded.value",
            {**params, "value": stored},
        )

    def set_price_override(self, account_id: str, target: str, value: str | None) -> None:
        """Store (or with None remove) an operator's price for one account (D14)."""
        params = {"account_id": account_id, "target": target, "value": value}
        if value is None:
            self._sql.execute(
                "DELETE FROM price_overrides WHERE account_id = :account_id AND target = :target",
                params,
            )
            return
        self._sql.execute(
            "INSERT INTO price_overrides (account_id, target, value) VALUES (:account_id, "
            ":target, :value) ON CONFLICT (account_id, target) DO UPDATE SET "
            "value = excluded.value",
            params,
        )

    def clear_override(self, account_id: str, project_id: str, item: str) -> None:
        self._sql.execute(
            "DELETE FROM limit_overrides WHERE account_id = :account_id "
            "AND project_id = :project_id AND item = :item",
            {"account_id": account_id, "project_id": project_id, "item": item},
        )

    def set_switch(self, account_id: str, project_id: str, item: str, enabled: bool) -> None:
        self._sql.execute(
            "INSERT INTO overage_switches (account_id, project_id, item, enabled) VALUES "
            "(:account_id, :project_id, :item, :enabled) ON CONFLICT (account_id, project_id, "
            "item) DO UPDATE SET enabled = excluded.enabled",
            {"account_id": account_id, "project_id": project_id, "item": item, "enabled": enabled},
        )

    def insert_pack(
        self, grant_id: str, account_id: str, pack_id: str, now: datetime, source: str
    ) -> None:
        self._sql.execute(
            "INSERT INTO account_packs (id, account_id, pack_id, granted_at, source) VALUES "
            "(:id, :account_id, :pack_id, :granted_at, :source)",
            {
                "id": grant_id,
                "account_id": account_id,
                "pack_id": pack_id,
                "granted_at": self._sql.ts(now),
                "source": source,
            },
        )

    def on_other_catalogs(self, content_hash: str) -> list[AccountOnCatalog]:
        """The accounts on another catalog version than ``content_hash``, in id order."""
        rows = self._sql.all(
            "SELECT id, catalog_hash, plan_id FROM accounts WHERE catalog_hash <> :current "
            "ORDER BY id",
            {"current": content_hash},
        )
        return [AccountOnCatalog(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def email_taken(self, email: str) -> bool:
        """Whether any account registered ``email``, compared without regard to case."""
        row = self._sql.one(
            "SELECT 1 FROM accounts WHERE lower(email) = lower(:email)", {"email": email}
        )
        return row is not None

    def register(
        self, account_id: str, *, plan_id: str, email: str, name: str, password_hash: str
    ) -> bool:
        """Turn an anonymous account into a registered one on ``plan_id``; False if not anonymous.

        Raises :class:`EmailTakenError` when a concurrent registration took ``email`` first (the
        unique constraint decides; the caller's transaction then rolls back).
        """
        try:
            row = self._sql.one(
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
