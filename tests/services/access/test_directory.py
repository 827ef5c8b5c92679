"""The consoles' lists on every backend: accounts by search, plan and status, a page at a time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meterstack import Engine
from meterstack.errors import InvalidInputError, NotFoundError

EngineFactory = Callable[..., Engine]


def test_accounts_are_found_by_id_email_or_name_without_regard_to_case(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    ada = engine.create_account(plan="starter", email="ada@example.com", name="Ada Lovelace")
    engine.create_account(plan="free", email="bob@example.com", name="Bob")

    assert [a.id for a in engine.directory.accounts(query="LOVELACE").entries] == [ada.id]
    assert [a.id for a in engine.directory.accounts(query="ada@").entries] == [ada.id]
    assert [a.id for a in engine.directory.accounts(query=ada.id[-8:]).entries] == [ada.id]
    assert engine.directory.accounts(query="%").total == 0, "wildcards are taken literally"
    assert engine.directory.accounts(query="l_velace").total == 0


def test_accounts_filter_by_plan_and_status(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    leaving = engine.create_account(plan="starter")
    shrinking = engine.create_account(plan="pro")
    staying = engine.create_account(plan="starter")
    engine.cancel(leaving.id)
    engine.change_plan(shrinking.id, "starter")

    def ids(**filters: str) -> set[str]:
        return {entry.id for entry in engine.directory.accounts(**filters).entries}  # type: ignore[arg-type]

    assert ids(plan="starter") == {leaving.id, staying.id}
    assert ids(status="cancelling") == {leaving.id}
    assert ids(status="downgrading") == {shrinking.id}
    assert ids(status="active") == {shrinking.id, staying.id}
    assert ids(plan="starter", status="active") == {staying.id}
    with pytest.raises(InvalidInputError):
        engine.directory.accounts(status="sleeping")
    with pytest.raises(InvalidInputError):
        engine.directory.accounts(plan="platinum")


def test_accounts_come_a_page_at_a_time(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    made = {engine.create_account(plan="free").id for _ in range(7)}
    pages = [engine.directory.accounts(page=number, size=3) for number in (1, 2, 3)]
    assert [len(page.entries) for page in pages] == [3, 3, 1]
    assert {entry.id for page in pages for entry in page.entries} == made
    assert (pages[0].total, pages[0].pages, pages[0].has_next, pages[2].has_next) == (
        7,
        3,
        True,
        False,
    )
    with pytest.raises(InvalidInputError):
        engine.directory.accounts(size=0)
    with pytest.raises(InvalidInputError):
        engine.directory.accounts(page=0)


def test_invoices_of_an_unknown_account_are_404(open_engine: EngineFactory) -> None:
    with pytest.raises(NotFoundError):
        open_engine("flowstack").directory.invoices("acct_nobody")
