"""Anonymous accounts (A7, D19): created with no registration, converted to FREE keeping their
usage and data, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import inspect, text

from meterstack import Engine
from meterstack.errors import (
    AuthenticationError,
    EmailTakenError,
    InvalidEmailError,
    InvalidInputError,
    MeterstackError,
    PasswordTooShortError,
)
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]

PASSWORD = "correct horse battery staple"


def _convert(engine: Engine, key: str, **changes: Any) -> Any:
    fields: dict[str, Any] = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    fields.update(changes)
    return engine.convert_anonymous(key, **fields)


def _query(store_url: str, sql: str, **params: Any) -> list[Any]:
    store = SqlStore(store_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        store.close()


def test_a7_an_anonymous_account_needs_no_registration_and_its_key_works(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")

    account, issued = engine.create_anonymous_account()

    assert (account.plan, account.anonymous, account.email) == ("anonymous", True, None)
    assert issued.key.startswith("anon_ask_")
    key = engine.authenticate(issued.key)
    assert (key.account_id, key.kind, key.project_id) == (account.id, "anonymous", None)
    assert engine.account(account.id).anonymous
    assert engine.usage(account.id)["user_api_keys"].used == 1
    assert engine.consume(account.id, "api_calls", 10).allowed


def test_a7_conversion_moves_to_free_keeping_usage_resources_and_data(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account, anonymous_key = engine.create_anonymous_account()
    engine.consume(account.id, "api_calls", 1_234)
    engine.consume(account.id, "logic_engine_calls", 56)
    project = engine.create_project(account.id, name="demo")
    project_key = engine.create_api_key(account.id, project_id=project.id)

    converted, user_key = _convert(engine, anonymous_key.key, email="Ada@Example.com")

    assert converted.id == account.id
    assert (converted.plan, converted.anonymous) == ("free", False)
    assert (converted.name, converted.email) == ("Ada", "ada@example.com")
    usage = engine.usage(account.id)
    assert usage.plan == "free"
    assert (usage["api_calls"].used, usage["api_calls"].limit) == (1_234, 50_000)
    assert usage["logic_engine_calls"].used == 56
    assert (usage["projects"].used, usage["api_keys"].used, usage["user_api_keys"].used) == (
        1,
        1,
        1,
    )
    assert engine.consume(account.id, "api_calls", 1, project_id=project.id).used == 1_235
    # The anonymous key is refused; the new user key and the project's key work.
    with pytest.raises(AuthenticationError) as refused:
        engine.authenticate(anonymous_key.key)
    assert (refused.value.http_status, refused.value.code) == (401, "invalid_api_key")
    assert user_key.key.startswith("ask_")
    new = engine.authenticate(user_key.key)
    assert (new.account_id, new.kind) == (account.id, "user")
    assert engine.authenticate(project_key.key).project_id == project.id
    assert not engine.account(account.id).anonymous


def test_a7_the_password_is_stored_as_an_argon2_hash_only(
    open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("agentstack")
    account, issued = engine.create_anonymous_account()

    _convert(engine, issued.key)

    [(stored,)] = _query(
        store_url, "SELECT password_hash FROM accounts WHERE id = :id", id=account.id
    )
    assert stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, PASSWORD)
    every_text = [
        str(value)
        for table in _table_names(store_url)
        for row in _query(store_url, f'SELECT * FROM "{table}"')
        for value in row
    ]
    assert not any(PASSWORD in value for value in every_text)


def _table_names(store_url: str) -> list[str]:
    store = SqlStore(store_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            return list(inspect(connection).get_table_names())
    finally:
        store.close()


def test_a7_an_email_already_registered_is_refused_with_409_and_changes_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    first, first_key = engine.create_anonymous_account()
    _convert(engine, first_key.key, email="ada@example.com")
    second, second_key = engine.create_anonymous_account()

    with pytest.raises(EmailTakenError) as refused:
        _convert(engine, second_key.key, email="ADA@example.com")

    assert (refused.value.http_status, refused.value.code) == (409, "email_taken")
    after = engine.account(second.id)
    assert (after.plan, after.anonymous, after.email) == ("anonymous", True, None)
    assert engine.authenticate(second_key.key).account_id == second.id
    assert engine.usage(second.id)["user_api_keys"].used == 1
    assert engine.account(first.id).email == "ada@example.com"


def test_a7_an_email_of_an_account_created_by_the_operator_is_taken_too(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    engine.create_account(plan="starter", email="grace@example.com")
    _, issued = engine.create_anonymous_account()

    with pytest.raises(EmailTakenError):
        _convert(engine, issued.key, email="grace@example.com")


def test_a7_operator_created_accounts_check_their_email_and_compare_it_without_case(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    first = engine.create_account(plan="starter", email="Grace@Example.com")

    with pytest.raises(EmailTakenError) as taken:
        engine.create_account(plan="starter", email="grace@example.COM")
    with pytest.raises(InvalidEmailError):
        engine.create_account(plan="starter", email="grace")

    assert engine.account(first.id).email == "grace@example.com"
    assert (taken.value.http_status, taken.value.code) == (409, "email_taken")


@pytest.mark.parametrize(
    ("changes", "error", "code", "message"),
    [
        ({"email": "ada"}, InvalidEmailError, "invalid_email", "name@example.com"),
        ({"email": "ada@example"}, InvalidEmailError, "invalid_email", "email must be"),
        ({"email": "a da@example.com"}, InvalidEmailError, "invalid_email", "email must be"),
        ({"email": None}, InvalidEmailError, "invalid_email", "email must be"),
        ({"password": "short"}, PasswordTooShortError, "password_too_short", "at least 8"),
        ({"password": 12345678}, InvalidInputError, "invalid_input", "password must be a text"),
        ({"password": "p" * 1025}, InvalidInputError, "invalid_input", "at most 1024"),
        ({"name": "  "}, InvalidInputError, "invalid_input", "name must be a text"),
    ],
)
def test_a7_bad_conversion_input_is_a_precise_422_that_changes_nothing(
    open_engine: EngineFactory,
    changes: dict[str, Any],
    error: type[MeterstackError],
    code: str,
    message: str,
) -> None:
    engine = open_engine("agentstack")
    account, issued = engine.create_anonymous_account()

    with pytest.raises(error, match=message) as refused:
        _convert(engine, issued.key, **changes)

    assert (refused.value.http_status, refused.value.code) == (422, code)
    assert engine.account(account.id).anonymous
    assert engine.authenticate(issued.key).account_id == account.id


def test_a7_only_the_anonymous_key_of_an_anonymous_account_converts(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account, issued = engine.create_anonymous_account()
    project = engine.create_project(account.id)
    project_key = engine.create_api_key(account.id, project_id=project.id)
    _, user_key = _convert(engine, issued.key)

    with pytest.raises(InvalidInputError, match="not a project key"):
        _convert(engine, project_key.key, email="other@example.com")
    with pytest.raises(InvalidInputError, match="already registered"):
        _convert(engine, user_key.key, email="other@example.com")
    with pytest.raises(AuthenticationError):
        _convert(engine, issued.key, email="other@example.com")
    assert engine.account(account.id).email == "ada@example.com"


def test_a7_an_anonymous_account_holds_one_user_key(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account, _ = engine.create_anonymous_account()

    with pytest.raises(MeterstackError) as refused:
        engine.create_api_key(account.id)

    assert (refused.value.http_status, refused.value.code) == (429, "limit_exceeded")
