"""The engine's contract on every backend: precise errors that change nothing, stored catalog
versions, cache coherence between processes, and migrations that match the schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from meterstack import Engine
from meterstack.catalog import load_catalog
from meterstack.errors import (
    CatalogConflictError,
    InvalidInputError,
    MeterstackError,
    NotFoundError,
)
from meterstack.store.dialect import parse_store_url
from meterstack.store.schema import metadata
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda e, a: e.consume("acct_nope", "sessions", 1), NotFoundError, "no account"),
        (lambda e, a: e.consume(a, "tokens", 1), InvalidInputError, "unknown meter 'tokens'"),
        (lambda e, a: e.consume(a, "sessions", 0), InvalidInputError, "greater than 0, got 0"),
        (lambda e, a: e.consume(a, "sessions", -3), InvalidInputError, "got -3"),
        (lambda e, a: e.consume(a, "sessions", 1.5), InvalidInputError, "whole number"),
        (lambda e, a: e.consume(a, "sessions", True), InvalidInputError, "whole number"),
        (lambda e, a: e.consume(a, "sessions", "2"), InvalidInputError, "whole number"),
        (
            lambda e, a: e.consume(a, "sessions", 1, project_id="proj_nope"),
            NotFoundError,
            "has no project 'proj_nope'",
        ),
        (
            lambda e, a: e.consume(a, "sessions", 1, idempotency_key="k" * 256),
            InvalidInputError,
            "1 to 255 characters",
        ),
        (lambda e, a: e.set_limit(a, "sessions", -1), InvalidInputError, "at least 0"),
        (lambda e, a: e.set_limit(a, "sessions", 5, grace=1.5), InvalidInputError, "grace"),
        (lambda e, a: e.grant_pack(a, "huge"), NotFoundError, "unknown pack 'huge'"),
        (lambda e, a: e.reserve(a, "sessions", 1, ttl=-5), InvalidInputError, "ttl"),
        (lambda e, a: e.commit("rsv_nope"), NotFoundError, "no reservation"),
    ],
)
def test_bad_input_is_a_precise_error_that_changes_nothing(
    open_engine: EngineFactory,
    call: Callable[[Engine, str], Any],
    error: type[MeterstackError],
    message: str,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    engine.consume(account.id, "sessions", 3)

    with pytest.raises(error, match=message):
        call(engine, account.id)

    usage = engine.usage(account.id)["sessions"]
    assert (usage.used, usage.held, usage.limit) == (3, 0, 25)


def test_a_gauge_or_resource_is_not_consumed_like_a_meter(open_engine: EngineFactory) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")

    with pytest.raises(InvalidInputError, match="'storage' is a gauge, not a meter"):
        engine.consume(account.id, "storage", 10)
    with pytest.raises(InvalidInputError, match="'projects' is a resource"):
        engine.consume(account.id, "projects", 1)


def _catalog_file(folder: Path, version: int, free_sessions: int) -> Path:
    text = load_catalog("flowstack").text
    text = text.replace("version: 1\n", f"version: {version}\n", 1)
    text = text.replace("limits: {sessions: 25}", f"limits: {{sessions: {free_sessions}}}", 1)
    path = folder / f"flowstack-v{version}-{free_sessions}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_catalog_versions_are_stored_and_accounts_keep_theirs(
    open_engine: EngineFactory, tmp_path: Path
) -> None:
    first = open_engine(str(_catalog_file(tmp_path, 1, 25)))
    old = first.create_account(plan="free")

    with pytest.raises(CatalogConflictError, match="version 1 is already stored"):
        open_engine(str(_catalog_file(tmp_path, 1, 30)))
    second = open_engine(str(_catalog_file(tmp_path, 2, 30)))
    new = second.create_account(plan="free")

    assert second.usage(old.id)["sessions"].limit == 25
    assert second.usage(new.id)["sessions"].limit == 30
    assert second.account(old.id).catalog_version == 1


def test_a_change_made_by_another_engine_applies_at_once(open_engine: EngineFactory) -> None:
    here, there = open_engine("flowstack"), open_engine("flowstack")
    account = here.create_account(plan="free")
    assert here.consume(account.id, "sessions", 25).allowed  # here caches the account's terms

    there.set_limit(account.id, "sessions", 26)
    admitted = here.consume(account.id, "sessions", 1)
    project = there.create_project(account.id)
    via_new_project = here.check(account.id, "sessions", 1, project_id=project.id)

    assert (admitted.allowed, admitted.limit) == (True, 26)
    assert (via_new_project.allowed, via_new_project.code) == (False, "limit_exceeded")


def test_migrations_create_exactly_the_schema(store_url: str) -> None:
    store = SqlStore(store_url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": "meterstack_schema_version"}
            )
            differences = compare_metadata(context, metadata)
        # Alembic's own version table is the only table the schema does not declare.
        assert [d for d in differences if d[1].name != "meterstack_schema_version"] == []
        assert len(differences) <= 1
    finally:
        store.close()


def test_store_urls_are_checked() -> None:
    assert parse_store_url("billing.db").sqlalchemy_url == "sqlite:///billing.db"
    assert parse_store_url("sqlite:///b.db?durability=full").durability == "full"
    with pytest.raises(InvalidInputError, match="durability must be 'normal' or 'full'"):
        parse_store_url("sqlite:///b.db?durability=fast")
    with pytest.raises(InvalidInputError, match="unsupported database URL scheme 'mysql'"):
        parse_store_url("mysql://localhost/db")


def test_a_lower_limit_set_by_another_engine_refuses_at_once(open_engine: EngineFactory) -> None:
    here, there = open_engine("flowstack"), open_engine("flowstack")
    account = here.create_account(plan="free")
    here.consume(account.id, "sessions", 5)  # here caches a limit of 25

    there.set_limit(account.id, "sessions", 5)
    refused = here.consume(account.id, "sessions", 1, idempotency_key="after-change")
    there.set_limit(account.id, "sessions", 20)
    admitted = here.consume(account.id, "sessions", 1)

    assert (refused.allowed, refused.limit, refused.used) == (False, 5, 5)
    assert (admitted.allowed, admitted.limit, admitted.used) == (True, 20, 6)
    assert here.usage(account.id)["sessions"].used == 6
