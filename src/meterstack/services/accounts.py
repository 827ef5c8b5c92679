"""Accounts: creating them (with the first fee, D10), their public view, and whether their plan
has payments (A8, D30). Features are decided in :mod:`meterstack.services.features`.

Every change of an account's terms bumps its version (C7); the levers that change them are in
:mod:`meterstack.services.levers`, counted objects in :mod:`meterstack.services.resources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meterstack.catalog.schema import Catalog, Plan
from meterstack.errors import (
    EmailTakenError,
    InvalidInputError,
    NotAllowedForTierError,
    NotFoundError,
)
from meterstack.records.audit import PYTHON, Actor
from meterstack.rules.periods import period_for
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.invoicing.issue import fee_line, issue_invoice
from meterstack.services.registration import checked_email
from meterstack.store.rows import AccountRow


@dataclass(frozen=True)
class Account:
    id: str
    plan: str
    billing_interval: str
    status: str
    catalog: str
    catalog_version: int
    created_at: datetime
    anonymous: bool
    email: str | None = None
    name: str | None = None


class Accounts:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ accounts

    def create_account(
        self,
        plan: str | None = None,
        *,
        interval: str = "monthly",
        email: str | None = None,
        name: str | None = None,
        anonymous: bool = False,
        actor: Actor = PYTHON,
    ) -> Account:
        loaded = self.ctx.current
        catalog = loaded.catalog
        plan_id = plan or catalog.default_plan
        if plan_id not in catalog.plan_ids:
            raise InvalidInputError(
                f"unknown plan {plan_id!r}; catalog {catalog.catalog!r} plans: "
                + ", ".join(catalog.plan_ids),
                plan=plan_id,
            )
        if interval not in catalog.policies.intervals:
            raise InvalidInputError(
                f"billing interval {interval!r} is not offered; choose one of "
                + ", ".join(catalog.policies.intervals),
                interval=interval,
            )
        if email is not None:
            email = checked_email(email)
        now = self.ctx.now()
        row = AccountRow(
            id=new_id("acct"),
            catalog_hash=loaded.content_hash,
            plan_id=plan_id,
            billing_interval=interval,
            status="active",
            period_anchor=now,
            created_at=now,
            version=1,
            anonymous=anonymous,
            email=email,
            name=name,
        )
        with self.ctx.store.transaction() as tx:
            if email is not None and tx.accounts.email_taken(email):
                raise EmailTakenError(
                    f"an account with the email {email!r} already exists", email=email
                )
            tx.accounts.insert(row)
            record(
                tx,
                now,
                actor,
                row.id,
                "account.created",
                after={"plan": plan_id, "billing_interval": interval, "email": email, "name": name},
            )
            # D10: the first period's fee is invoiced in advance, when the subscription starts.
            period = period_for(catalog.policies.period, now, now)
            line = fee_line(
                catalog,
                catalog.plan(plan_id),
                interval,
                period,
                since=now,
                label=" (first period)",
            )
            if line is not None:
                issue_invoice(
                    tx,
                    account_id=row.id,
                    kind="opening",
                    catalog=catalog,
                    plan_id=plan_id,
                    period=period,
                    lines=[line],
                    now=now,
                    key=period.key,
                )
        return account_of(row, catalog)

    def account(self, account_id: str) -> Account:
        with self.ctx.store.transaction() as tx:
            row = tx.accounts.get(account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id!r}", account_id=account_id)
            return account_of(row, self.ctx.catalog(tx, row.catalog_hash))


def require_payments(plan: Plan, purchase: str) -> None:
    """A plan without payments buys nothing, neither a plan nor a pack (A8, D30).

    Refused with 403 ``not_allowed_for_tier``: AgentStack's ANONYMOUS has payments "Disabled",
    and the catalog declares that refusal 403 (D4).
    """
    if not plan.payments:
        raise NotAllowedForTierError(
            f"payments are disabled on the {plan.name} plan, so {purchase} cannot be bought; "
            "move to a plan with payments first",
            plan=plan.id,
        )


def account_of(row: AccountRow, catalog: Catalog) -> Account:
    """The public view of an account row."""
    return Account(
        id=row.id,
        plan=row.plan_id,
        billing_interval=row.billing_interval,
        status=row.status,
        catalog=catalog.catalog,
        catalog_version=catalog.version,
        created_at=row.created_at,
        anonymous=row.anonymous,
        email=row.email,
        name=row.name,
    )
