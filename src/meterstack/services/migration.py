"""Grandfathering: a subscription keeps the catalog version it bought until an operator moves it.

``plan`` lists who would move to the current catalog version and what changes for each of them
(prices and limits of their plan, stricter or looser); ``apply`` moves them: from that instant
their account is on the current version (its limits and prices), and invoices rate each period on
the version the account had in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meterstack.catalog.diff import CatalogChange, diff_catalogs
from meterstack.records.audit import PYTHON, Actor
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext


@dataclass(frozen=True)
class AccountMigration:
    account_id: str
    plan: str
    from_version: int
    to_version: int
    #: The changes of the account's plan (``plans.<plan>.…``), each stricter or looser.
    changes: tuple[CatalogChange, ...]
    #: Why the account cannot move (its plan is gone from the new version); None when it can.
    blocked: str | None = None


class Migrations:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def plan(self, account_ids: Sequence[str] | None = None) -> list[AccountMigration]:
        """Who is on another catalog version than the current one, and what would change."""
        current = self.ctx.current
        moves: list[AccountMigration] = []
        with self.ctx.store.transaction() as tx:
            for account in tx.accounts.on_other_catalogs(current.content_hash):
                account_id, plan_id = account.id, account.plan_id
                if account_ids is not None and account_id not in account_ids:
                    continue
                old = self.ctx.catalog(tx, account.catalog_hash)
                if old.catalog != current.catalog.catalog:
                    continue  # another product's catalog: not ours to move
                prefix = f"plans.{plan_id}."
                changes = tuple(
                    change
                    for change in diff_catalogs(old, current.catalog)
                    if change.path.startswith(prefix) or change.path == f"plans.{plan_id}"
                )
                blocked = None
                if plan_id not in current.catalog.plans_by_id:
                    blocked = f"plan {plan_id!r} is not in version {current.catalog.version}"
                moves.append(
                    AccountMigration(
                        account_id, plan_id, old.version, current.catalog.version, changes, blocked
                    )
                )
        return moves

    def apply(
        self, account_ids: Sequence[str] | None = None, *, actor: Actor = PYTHON
    ) -> list[AccountMigration]:
        """Move the accounts that can move; the moves made."""
        moved = []
        for move in self.plan(account_ids):
            if move.blocked is not None:
                continue
            with self.ctx.store.transaction() as tx:
                now = self.ctx.now()
                account = tx.accounts.get(move.account_id)
                if account is None or account.catalog_hash == self.ctx.current.content_hash:
                    continue
                tx.subscriptions.change_plan(
                    move.account_id,
                    account.plan_id,
                    account.billing_interval,
                    self.ctx.current.content_hash,
                    now,
                )
                self.ctx.changed(tx, move.account_id)
                record(
                    tx,
                    now,
                    actor,
                    move.account_id,
                    "catalog.migrated",
                    before={"catalog_version": move.from_version},
                    after={
                        "catalog_version": move.to_version,
                        "changes": [change.to_dict() for change in move.changes],
                    },
                )
            moved.append(move)
        return moved
