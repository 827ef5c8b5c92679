"""API keys: hashed storage, authentication, limits (A10) and service caps (A8)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text

from meterstack import Decision, Engine, ManualClock
from meterstack.errors import (
    AuthenticationError,
    InvalidInputError,
    MeterstackError,
    NotFoundError,
    RefusedError,
    UpgradeRequiredError,
)
from meterstack.services.keys import IssuedKey
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]


def _stored_texts(store_url: str) -> Iterator[tuple[str, str, str]]:
    """(table, column, value) of every text value in every table of the database."""
    store = SqlStore(store_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                result = connection.execute(text(f'SELECT * FROM "{table}"'))
                columns = list(result.keys())
                for row in result:
                    for column, value in zip(columns, row, strict=True):
                        shown = (
                            value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                        )
                        if isinstance(shown, str):
                            yield table, column, shown
    finally:
        store.close()


def _secret(issued: IssuedKey) -> str:
    return issued.key.rsplit("_", 1)[1]


# --------------------------------------------------------------------------- keys


def test_keys_the_database_holds_no_key_in_clear_text(
    open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    issued = [
        engine.create_api_key(account.id, name="laptop"),
        engine.create_api_key(account.id, project_id=project.id, modules=["analytics"]),
        engine.create_anonymous_account()[1],
    ]
    engine.revoke_api_key(issued[0].id)

    stored = list(_stored_texts(store_url))
    found = [
        (table, column)
        for table, column, value in stored
        for key in issued
        if key.key in value or _secret(key) in value
    ]
    # The scan saw the keys' rows: their non-secret lookup ids are there.
    lookups = {
        value for table, column, value in stored if (table, column) == ("api_keys", "lookup")
    }

    assert found == []
    assert lookups == {key.api_key.prefix.rsplit("_", 1)[1] for key in issued}
    assert all(len(_secret(key)) == 64 for key in issued)  # 256 bits, hex


def test_keys_a_key_authenticates_as_its_account_and_project(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    user_key = engine.create_api_key(account.id, name="ci")
    project_key = engine.create_api_key(account.id, project_id=project.id)

    as_user = engine.authenticate(user_key.key)
    as_project = engine.authenticate(project_key.key)

    assert user_key.key.startswith("ask_")
    assert project_key.key.startswith("apk_")
    assert (as_user.id, as_user.account_id, as_user.project_id, as_user.kind) == (
        user_key.id,
        account.id,
        None,
        "user",
    )
    assert (as_project.account_id, as_project.project_id, as_project.kind) == (
        account.id,
        project.id,
        "project",
    )
    assert (as_user.name, as_user.revoked_at, as_user.caps) == ("ci", None, None)
    # The prefix is the readable, non-secret beginning of the key.
    assert user_key.key.startswith(as_user.prefix + "_")
    assert _secret(user_key) not in as_user.prefix
    assert user_key.key not in repr(user_key)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda key: key[:-1], id="truncated"),
        pytest.param(lambda key: key[: len(key) // 2], id="half"),
        pytest.param(lambda key: key[:-1] + ("0" if key[-1] != "0" else "1"), id="wrong-secret"),
        pytest.param(lambda key: "apk_" + key.removeprefix("ask_"), id="wrong-prefix"),
        pytest.param(lambda key: key + "0", id="too-long"),
        pytest.param(lambda key: key.upper(), id="upper-case"),
        pytest.param(lambda key: "", id="empty"),
        pytest.param(lambda key: None, id="not-text"),
    ],
)
def test_keys_a_wrong_or_truncated_key_is_refused_with_401(
    open_engine: EngineFactory, spoil: Callable[[str], Any]
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    issued = engine.create_api_key(account.id)

    with pytest.raises(AuthenticationError) as refused:
        engine.authenticate(spoil(issued.key))

    assert (refused.value.http_status, refused.value.code) == (401, "invalid_api_key")
    assert issued.key not in str(refused.value.to_dict())
    assert engine.authenticate(issued.key).id == issued.id


def test_keys_a_revoked_key_is_refused_with_401_at_once(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    issued = engine.create_api_key(account.id)
    assert engine.authenticate(issued.key).id == issued.id

    engine.revoke_api_key(issued.id)
    engine.revoke_api_key(issued.id)  # revoking again changes nothing

    with pytest.raises(AuthenticationError) as refused:
        engine.authenticate(issued.key)
    assert (refused.value.http_status, refused.value.code) == (401, "invalid_api_key")
    assert engine.usage(account.id)["user_api_keys"].used == 0
    with pytest.raises(NotFoundError, match="no API key 'key_nope'"):
        engine.revoke_api_key("key_nope")


# --------------------------------------------------------------------------- A10


def test_a10_user_keys_past_the_free_limit_are_refused_with_429_and_revoking_frees_the_slot(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")  # user_api_keys: 1
    first = engine.create_api_key(account.id)

    with pytest.raises(RefusedError) as refused:
        engine.create_api_key(account.id)

    assert (refused.value.http_status, refused.value.code) == (429, "limit_exceeded")
    assert (refused.value.details["current_usage"], refused.value.details["limit"]) == (1, 1)
    assert engine.usage(account.id)["user_api_keys"].used == 1
    engine.revoke_api_key(first.id)
    assert engine.usage(account.id)["user_api_keys"].used == 0
    second = engine.create_api_key(account.id)
    assert engine.authenticate(second.key).id == second.id
    assert engine.usage(account.id)["user_api_keys"].used == 1


def test_a10_project_keys_count_across_projects_and_are_refused_with_429_past_the_limit(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")  # api_keys: 2
    project = engine.create_project(account.id)
    keys = [engine.create_api_key(account.id, project_id=project.id) for _ in range(2)]

    with pytest.raises(RefusedError) as refused:
        engine.create_api_key(account.id, project_id=project.id)

    assert (refused.value.http_status, refused.value.code) == (429, "limit_exceeded")
    usage = engine.usage(account.id)
    # Project keys and user keys are counted apart.
    assert (usage["api_keys"].used, usage["user_api_keys"].used) == (2, 0)
    engine.revoke_api_key(keys[0].id)
    replacement = engine.create_api_key(account.id, project_id=project.id)
    assert engine.authenticate(replacement.key).project_id == project.id
    assert engine.usage(account.id)["api_keys"].used == 2


def test_a10_a_catalog_without_key_resources_does_not_count_keys(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")

    issued = [engine.create_api_key(account.id) for _ in range(3)]
    engine.revoke_api_key(issued[0].id)

    assert engine.authenticate(issued[1].key).account_id == account.id
    assert "user_api_keys" not in engine.usage(account.id).items


# --------------------------------------------------------------------------- A8


def test_a8_caps_refuse_a_capped_module_and_leave_other_keys_alone(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    capped = engine.create_api_key(
        account.id, project_id=project.id, modules=["analytics", "scheduler"]
    )
    uncapped = engine.create_api_key(account.id, project_id=project.id)

    refused = engine.require_module(capped.id, "payments")
    allowed = engine.require_module(capped.id, "analytics")
    other = engine.require_module(uncapped.id, "payments")

    assert (refused.allowed, refused.http_status, refused.code) == (
        False,
        403,
        "module_not_allowed",
    )
    assert "analytics, scheduler" in refused.message
    assert (allowed.allowed, allowed.http_status, allowed.code) == (True, 200, "ok")
    assert (other.allowed, other.code) == (True, "ok")
    # The caps are recorded with the key.
    caps = engine.authenticate(capped.key).caps
    assert caps is not None
    assert caps.modules == ("analytics", "scheduler")
    assert engine.authenticate(uncapped.key).caps is None


def test_a8_an_empty_module_list_allows_no_sensitive_module(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    project = engine.create_project(account.id)
    locked = engine.create_api_key(account.id, project_id=project.id, modules=[])

    decisions = [engine.require_module(locked.id, module) for module in ("payments", "data_access")]

    assert [(d.allowed, d.http_status) for d in decisions] == [(False, 403), (False, 403)]


def test_a8_per_key_quotas_are_stored_and_readable(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    issued = engine.create_api_key(
        account.id, project_id=project.id, quotas={"api_calls": 1000, "logic_engine_calls": 0}
    )
    plain = engine.create_api_key(account.id, project_id=project.id)

    listed = {key.id: key.caps for key in engine.api_keys(account.id)}
    listed_caps, plain_caps = listed[issued.id], listed[plain.id]
    quotas = {} if listed_caps is None else dict(listed_caps.quotas)
    none = {} if plain_caps is None else dict(plain_caps.quotas)
    caps = engine.authenticate(issued.key).caps

    assert quotas == {"api_calls": 1000, "logic_engine_calls": 0}
    assert none == {}
    assert caps is not None
    assert caps.modules is None
    assert dict(caps.quotas) == {"api_calls": 1000, "logic_engine_calls": 0}
    assert engine.require_module(issued.id, "payments").allowed


@pytest.mark.parametrize(
    "caps",
    [
        pytest.param({"modules": ["payments"]}, id="modules"),
        pytest.param({"quotas": {"api_calls": 10}}, id="quotas"),
    ],
)
def test_a8_service_caps_below_starter_are_refused_with_402_and_nothing_is_created(
    open_engine: EngineFactory, caps: dict[str, Any]
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    project = engine.create_project(account.id)

    with pytest.raises(UpgradeRequiredError) as refused:
        engine.create_api_key(account.id, project_id=project.id, **caps)

    assert (refused.value.http_status, refused.value.code) == (402, "upgrade_required")
    assert refused.value.details["upgrade_to"] == "starter"
    assert engine.usage(account.id)["api_keys"].used == 0
    # Without caps the same key is fine on FREE.
    assert engine.create_api_key(account.id, project_id=project.id).api_key.caps is None


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"modules": ["payments"]}, InvalidInputError, "project API keys only"),
        ({"project_id": "proj_nope"}, NotFoundError, "has no project 'proj_nope'"),
        ({"project": True, "modules": ["billing"]}, InvalidInputError, "unknown module 'billing'"),
        ({"project": True, "modules": "payments"}, InvalidInputError, "list of module names"),
        ({"project": True, "quotas": {"tokens": 5}}, InvalidInputError, "unknown meter 'tokens'"),
        ({"project": True, "quotas": {"api_calls": -1}}, InvalidInputError, "at least 0"),
        ({"project": True, "quotas": {"api_calls": 1.5}}, InvalidInputError, "whole number"),
        ({"project": True, "quotas": ["api_calls"]}, InvalidInputError, "map meters"),
        ({"name": ""}, InvalidInputError, "name must be a text"),
        ({"name": "x" * 201}, InvalidInputError, "name must be a text"),
    ],
)
def test_keys_bad_input_is_a_precise_error_that_changes_nothing(
    open_engine: EngineFactory,
    options: dict[str, Any],
    error: type[MeterstackError],
    message: str,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    options = dict(options)  # the parameters are shared by both backends' runs
    if options.pop("project", False):
        options["project_id"] = project.id

    with pytest.raises(error, match=message):
        engine.create_api_key(account.id, **options)

    usage = engine.usage(account.id)
    assert (usage["api_keys"].used, usage["user_api_keys"].used) == (0, 0)


def test_keys_unknown_accounts_keys_and_modules_are_precise_errors(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    issued = engine.create_api_key(account.id, project_id=project.id)

    with pytest.raises(NotFoundError, match="no account 'acct_nope'"):
        engine.create_api_key("acct_nope")
    with pytest.raises(NotFoundError, match="no API key 'key_nope'"):
        engine.require_module("key_nope", "payments")
    with pytest.raises(InvalidInputError, match="unknown module 'billing'"):
        engine.require_module(issued.id, "billing")
    engine.revoke_api_key(issued.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        engine.require_module(issued.id, "payments")


def test_a8_a_key_quota_is_a_scope_of_consume(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    capped = engine.create_api_key(account.id, project_id=project.id, quotas={"api_calls": 10})
    other = engine.create_api_key(account.id, project_id=project.id)

    within = engine.consume(
        account.id, "api_calls", 10, project_id=project.id, api_key_id=capped.id
    )
    past = engine.consume(account.id, "api_calls", 1, project_id=project.id, api_key_id=capped.id)
    unaffected = engine.consume(account.id, "api_calls", 5, api_key_id=other.id)
    batch = engine.consume_many(
        [
            {"account_id": account.id, "meter": "api_calls", "api_key_id": capped.id},
            {"account_id": account.id, "meter": "logic_engine_calls", "api_key_id": capped.id},
        ]
    )

    assert within.allowed
    assert (past.allowed, past.http_status, past.scope, past.limit) == (
        False,
        429,
        f"key:{capped.id}",
        10,
    )
    assert (unaffected.allowed, unaffected.used) == (True, 15)
    refused, other_meter = batch
    assert isinstance(refused, Decision)
    assert not refused.allowed
    assert isinstance(other_meter, Decision)
    assert other_meter.allowed
    assert engine.usage(account.id)["api_calls"].used == 15


def test_a8_a_revoked_key_cannot_consume(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    key = engine.create_api_key(account.id)
    engine.revoke_api_key(key.id)

    with pytest.raises(AuthenticationError):
        engine.consume(account.id, "api_calls", 1, api_key_id=key.id)
    assert engine.usage(account.id)["api_calls"].used == 0


def test_deleting_a_project_revokes_its_keys_and_frees_their_slots(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    key = engine.create_api_key(account.id, project_id=project.id)
    used_before = engine.usage(account.id)["api_keys"].used

    engine.delete_project(project.id)

    with pytest.raises(AuthenticationError):
        engine.authenticate(key.key)
    assert (used_before, engine.usage(account.id)["api_keys"].used) == (1, 0)


def test_a8_an_account_lists_its_keys_without_their_text(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    project = engine.create_project(account.id)
    user = engine.create_api_key(account.id, name="laptop")
    clock.advance(timedelta(seconds=1))
    capped = engine.create_api_key(
        account.id, project_id=project.id, modules=["payments"], quotas={"api_calls": 5}
    )
    clock.advance(timedelta(seconds=1))
    gone = engine.create_api_key(account.id, project_id=project.id)
    engine.revoke_api_key(gone.id)

    live = engine.api_keys(account.id)
    everything = engine.api_keys(account.id, revoked=True)
    of_project = engine.api_keys(account.id, project_id=project.id)

    assert [key.id for key in live] == [user.id, capped.id]
    assert [key.id for key in everything] == [user.id, capped.id, gone.id]
    assert [key.id for key in of_project] == [capped.id]
    assert (live[0].name, live[0].kind, live[0].prefix) == ("laptop", "user", user.api_key.prefix)
    assert live[1].caps is not None
    assert (live[1].caps.modules, dict(live[1].caps.quotas)) == (("payments",), {"api_calls": 5})
    assert everything[2].revoked_at is not None
    assert all(user.key not in repr(key) and capped.key not in repr(key) for key in everything)
    with pytest.raises(NotFoundError):
        engine.api_keys("acct_missing")
    with pytest.raises(NotFoundError):
        engine.api_keys(account.id, project_id="proj_missing")
