"""The audit log's port on each implementation: entries round-trip as typed values, land with
their unit of work or not at all, and read back newest first by account and kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meterstack.errors import NulCharacterError
from meterstack.records.audit import Actor, AuditEntry
from meterstack.store.ports import Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _entry(number: int, account_id: str = "acct_a", kind: str = "limit.set") -> AuditEntry:
    return AuditEntry(
        id=f"aud_{number}",
        account_id=account_id,
        kind=kind,
        actor=Actor("operator", "api", "réason ✓"),
        at=NOW + timedelta(seconds=number),
        before=None if number == 1 else {"limit": number - 1, "note": None},
        after={"limit": number, "price": "12.500000", "nested": {"list": [1, "two"]}},
    )


def test_entries_round_trip_newest_first_and_filtered(store: Store) -> None:
    with store.transaction() as tx:
        for number in range(1, 6):
            tx.audit.append(_entry(number))
        tx.audit.append(_entry(6, account_id="acct_b"))
        tx.audit.append(_entry(7, kind="key.revoked"))

    with store.transaction() as tx:
        everything = tx.audit.entries(account_id=None, kind=None, before=None, limit=100)
        of_a = tx.audit.entries(account_id="acct_a", kind="limit.set", before=None, limit=2)
        older = tx.audit.entries(account_id="acct_a", kind="limit.set", before=of_a[-1][0], limit=9)
        revoked = tx.audit.entries(account_id=None, kind="key.revoked", before=None, limit=9)

    assert [entry.id for _, entry in everything] == [f"aud_{n}" for n in range(7, 0, -1)]
    assert [entry.id for _, entry in of_a] == ["aud_5", "aud_4"]
    assert [entry.id for _, entry in older] == ["aud_3", "aud_2", "aud_1"]
    assert [entry.id for _, entry in revoked] == ["aud_7"]
    assert everything[-1][1] == _entry(1)
    assert everything[-2][1] == _entry(2)


def test_an_entry_lands_with_its_unit_of_work_or_not_at_all(store: Store) -> None:
    def failing_change() -> None:
        with store.transaction() as tx:
            tx.audit.append(_entry(1, account_id="acct_rolled_back"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with pytest.raises(NulCharacterError), store.transaction() as tx:
        tx.audit.append(_entry(2, account_id="acct_nul\x00"))

    with store.transaction() as tx:
        assert (
            tx.audit.entries(account_id="acct_rolled_back", kind=None, before=None, limit=9) == []
        )
        assert tx.audit.entries(account_id=None, kind=None, before=None, limit=9) == []
