"""Dashboard sign-in on every backend: single-use links, password attempts counted in the store,
sessions ended by sign-out, expiry, key revocation and a changed operator key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text

from meterstack import Engine, ManualClock
from meterstack.errors import MeterstackError, NotFoundError
from meterstack.services.access import (
    ACCOUNT_ATTEMPTS,
    ADDRESS_ATTEMPTS,
    LINK_LIFETIME,
    SESSION_LIFETIME,
    InvalidCredentialsError,
    SignInLinkInvalidError,
    StartedSession,
    TooManyAttemptsError,
)
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
PASSWORD = "correct horse battery staple"


def _registered(engine: Engine, email: str = "ada@example.com") -> str:
    account, key = engine.create_anonymous_account()
    engine.convert_anonymous(key.key, name="Ada", email=email, password=PASSWORD)
    return account.id


def test_a_sign_in_link_starts_one_session_once(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    link = engine.access.mint_link(account.id)

    started = engine.access.redeem_link(link.token)

    session = engine.access.session(started.cookie)
    assert session is not None
    assert (session.kind, session.account_id) == ("customer", account.id)
    with pytest.raises(SignInLinkInvalidError):
        engine.access.redeem_link(link.token)
    with pytest.raises(SignInLinkInvalidError):
        engine.access.redeem_link("not-a-token")


def test_a_sign_in_link_lapses_after_ten_minutes(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    late = engine.access.mint_link(account.id)
    on_time = engine.access.mint_link(account.id)

    clock.advance(LINK_LIFETIME - timedelta(seconds=1))
    engine.access.redeem_link(on_time.token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(SignInLinkInvalidError):
        engine.access.redeem_link(late.token)


def test_links_are_stored_as_hashes_only(open_engine: EngineFactory, store_url: str) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    link = engine.access.mint_link(account.id)
    started = engine.access.redeem_link(link.token)

    store = SqlStore(store_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            stored = [
                str(value)
                for table in ("signin_links", "web_sessions")
                for row in connection.execute(text(f"SELECT * FROM {table}"))
                for value in row
            ]
    finally:
        store.close()
    assert stored
    assert not any(link.token in value or started.cookie in value for value in stored)


def test_a_link_for_an_unknown_account_is_404(open_engine: EngineFactory) -> None:
    with pytest.raises(NotFoundError):
        open_engine("flowstack").access.mint_link("acct_nobody")


def _redeem_twice_at_once(engine: Engine, token: str) -> list[StartedSession | MeterstackError]:
    barrier = threading.Barrier(2)
    results: list[StartedSession | MeterstackError] = []

    def redeem() -> None:
        barrier.wait()
        try:
            results.append(engine.access.redeem_link(token))
        except MeterstackError as error:
            results.append(error)

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_concurrent_uses_of_a_link_make_one_session(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    for _ in range(5):
        results = _redeem_twice_at_once(engine, engine.access.mint_link(account.id).token)
        sessions = [result for result in results if isinstance(result, StartedSession)]
        refusals = [result for result in results if isinstance(result, SignInLinkInvalidError)]
        assert (len(sessions), len(refusals)) == (1, 1)


def test_sign_in_rotates_the_session_and_sign_out_ends_it(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account_id = _registered(engine)
    first = engine.access.sign_in("ada@example.com", PASSWORD, address="10.0.0.1")

    second = engine.access.sign_in(
        "ADA@example.com", PASSWORD, address="10.0.0.1", replacing=first.cookie
    )

    assert second.cookie != first.cookie
    assert second.session.csrf_token != first.session.csrf_token
    assert engine.access.session(first.cookie) is None
    live = engine.access.session(second.cookie)
    assert live is not None
    assert live.account_id == account_id
    engine.access.end_session(second.cookie)
    assert engine.access.session(second.cookie) is None


def test_a_session_expires(open_engine: EngineFactory, clock: ManualClock) -> None:
    engine = open_engine("flowstack")
    started = engine.access.start_session(engine.create_account(plan="free").id)
    clock.advance(SESSION_LIFETIME - timedelta(seconds=1))
    assert engine.access.session(started.cookie) is not None
    clock.advance(timedelta(seconds=1))
    assert engine.access.session(started.cookie) is None


def test_a_wrong_password_and_an_unknown_address_get_the_same_refusal(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    _registered(engine)
    with pytest.raises(InvalidCredentialsError) as wrong:
        engine.access.sign_in("ada@example.com", "wrong password", address="a")
    with pytest.raises(InvalidCredentialsError) as unknown:
        engine.access.sign_in("bob@example.com", PASSWORD, address="a")
    assert wrong.value.message == unknown.value.message
    assert wrong.value.http_status == 401


def test_password_attempts_are_limited_per_account_and_success_forgets_them(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    _registered(engine)
    for attempt in range(ACCOUNT_ATTEMPTS):
        with pytest.raises(InvalidCredentialsError):
            # From a new address each time: only the account's count can refuse.
            engine.access.sign_in("ada@example.com", "wrong password", address=f"a{attempt}")
    with pytest.raises(TooManyAttemptsError) as refused:
        engine.access.sign_in("ada@example.com", PASSWORD, address="elsewhere")
    assert refused.value.http_status == 429
    assert 0 < refused.value.details["retry_after"] <= 15 * 60

    clock.advance(timedelta(minutes=15))
    engine.access.sign_in("ada@example.com", PASSWORD, address="elsewhere")
    for attempt in range(ACCOUNT_ATTEMPTS - 1):
        with pytest.raises(InvalidCredentialsError):
            engine.access.sign_in("ada@example.com", "wrong", address=f"b{attempt}")
    engine.access.sign_in("ada@example.com", PASSWORD, address="elsewhere")


def test_password_attempts_are_limited_per_address(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    _registered(engine)
    for attempt in range(ADDRESS_ATTEMPTS):
        with pytest.raises(InvalidCredentialsError):
            engine.access.sign_in(f"nobody{attempt}@example.com", PASSWORD, address="10.9.9.9")
    with pytest.raises(TooManyAttemptsError):
        engine.access.sign_in("ada@example.com", PASSWORD, address="10.9.9.9")
    engine.access.sign_in("ada@example.com", PASSWORD, address="10.9.9.8")


def test_the_attempt_count_is_shared_by_every_engine_on_the_store(
    open_engine: EngineFactory,
) -> None:
    first, second = open_engine("agentstack"), open_engine("agentstack")
    _registered(first)
    for attempt in range(ACCOUNT_ATTEMPTS):
        engine = (first, second)[attempt % 2]
        with pytest.raises(InvalidCredentialsError):
            engine.access.sign_in("ada@example.com", "wrong", address=f"c{attempt}")
    with pytest.raises(TooManyAttemptsError):
        first.access.sign_in("ada@example.com", PASSWORD, address="d")
    with pytest.raises(TooManyAttemptsError):
        second.access.sign_in("ada@example.com", PASSWORD, address="d")


def test_revoking_a_user_key_ends_the_sessions_that_began_before(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    key = engine.create_api_key(account.id)
    project = engine.create_project(account.id)
    project_key = engine.create_api_key(account.id, project_id=project.id)
    before = engine.access.start_session(account.id)

    engine.revoke_api_key(project_key.id)
    assert engine.access.session(before.cookie) is not None, "a project key is not the account's"
    engine.revoke_api_key(key.id)

    assert engine.access.session(before.cookie) is None
    after = engine.access.start_session(account.id)
    assert engine.access.session(after.cookie) is not None


def test_renewing_keeps_the_sign_in_under_a_new_id(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    key = engine.create_api_key(account.id)
    started = engine.access.start_session(account.id)
    other = engine.access.start_session(account.id)

    engine.revoke_api_key(key.id)
    renewed = engine.access.renew_session(started.cookie)

    assert renewed is not None
    assert engine.access.session(renewed.cookie) is not None
    assert engine.access.session(started.cookie) is None
    assert engine.access.session(other.cookie) is None


def test_an_operator_session_needs_the_key_it_signed_in_with(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    with pytest.raises(InvalidCredentialsError):
        engine.access.operator_sign_in("guess", "operator-secret", address="a")
    started = engine.access.operator_sign_in("operator-secret", "operator-secret", address="a")

    session = engine.access.session(started.cookie, operator_key="operator-secret")
    assert session is not None
    assert (session.kind, session.account_id) == ("operator", None)
    assert engine.access.session(started.cookie, operator_key="rotated") is None
    assert engine.access.session(started.cookie, operator_key="operator-secret") is None


def test_a_notice_is_shown_once(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    started = engine.access.start_session(engine.create_account(plan="free").id)
    engine.access.leave_notice(started.cookie, "Overage is on.")
    first = engine.access.session(started.cookie)
    again = engine.access.session(started.cookie)
    assert first is not None
    assert again is not None
    assert (first.flash, again.flash) == ("Overage is on.", None)
    assert first.accepts(first.csrf_token)
    assert not first.accepts(None)
    assert not first.accepts(first.csrf_token + "x")
