"""What the wallet tests share: deposits through the local provider, the ledger read in SQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from meterstack import Engine
from meterstack.services.payments.local import LocalProvider
from meterstack.store.sql import SqlStore

PUBLIC = "http://127.0.0.1:8000"
EngineFactory = Callable[..., Engine]
#: ``store_of(engine)``: the store the test opened for an engine of ``open_engine``.
StoreOf = Callable[[Engine], SqlStore]


def deposit(engine: Engine, provider: LocalProvider, account_id: str, amount: str) -> Decimal:
    """Deposit through the local provider's checkout, as a customer pays it (D24)."""
    checkout = engine.deposit(account_id, Decimal(amount), success_url=f"{PUBLIC}/done")
    outcome = engine.pay_checkout(checkout.id, provider.checkout_secret(checkout.id))
    assert outcome.deposit_balance is not None
    return outcome.deposit_balance


def ledger_sum(store: SqlStore, account_id: str, book: str = "wallet") -> Decimal:
    """An independent recount: the SQL SUM of the account's ledger rows, in millionths, read
    in the engine's store (``store_of(engine)``)."""
    with store.transaction() as tx:
        row = tx.sql.one(
            "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM wallet_entries "
            "WHERE account_id = :a AND book = :b",
            {"a": account_id, "b": book},
        )
    return Decimal(int(row[0])).scaleb(-6)


def ledger_rows(store: SqlStore, account_id: str) -> int:
    with store.transaction() as tx:
        row = tx.sql.one(
            "SELECT COUNT(*) FROM wallet_entries WHERE account_id = :a", {"a": account_id}
        )
    return int(row[0])
