"""The fake Stripe's API conventions: validation, idempotency, lists, search, expand, errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe

from fakes.stripe import API_VERSION, FakeStripeHandle, expanded, serve
from fakes.stripe.form import decode


def test_an_unknown_parameter_is_refused_with_parameter_unknown(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    misspelt: Any = {"emial": "a@example.com"}
    with pytest.raises(stripe.InvalidRequestError) as top:
        client.v1.customers.create(params=misspelt)
    assert (top.value.http_status, top.value.code, top.value.param) == (
        400,
        "parameter_unknown",
        "emial",
    )
    assert top.value.error is not None
    assert top.value.error.type == "invalid_request_error"
    assert top.value.error.message == "Received unknown parameter: emial"

    nested: Any = {
        "mode": "payment",
        "line_items": [
            {"price_data": {"currency": "usd", "colour": "red", "unit_amount": 1}, "quantity": 1}
        ],
    }
    with pytest.raises(stripe.InvalidRequestError) as deep:
        client.v1.checkout.sessions.create(params=nested)
    assert deep.value.param == "line_items[0][price_data][colour]"
    assert fake_stripe.objects("checkout.session") == []


def test_types_required_fields_and_enums_follow_the_published_definitions(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.create(params={"currency": "usd"})  # type: ignore[typeddict-item]
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "amount")
    raw = httpx.post(
        f"{fake_stripe.url}/v1/payment_intents",
        data={"amount": "12.50", "currency": "usd"},
        headers={"Authorization": f"Bearer {fake_stripe.api_key}"},
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "parameter_invalid_integer"
    assert raw.json()["error"]["param"] == "amount"
    bad_enum: Any = {"amount": 500, "currency": "usd", "capture_method": "later"}
    with pytest.raises(stripe.InvalidRequestError, match="capture_method: must be one of"):
        client.v1.payment_intents.create(params=bad_enum)


def test_nested_form_keys_decode_as_stripe_decodes_them() -> None:
    decoded = decode(
        "metadata[plan]=pro&line_items[0][price_data][currency]=usd"
        "&line_items[1][quantity]=2&expand[]=a&expand[]=b&description="
    )
    assert decoded == {
        "metadata": {"plan": "pro"},
        "line_items": {"0": {"price_data": {"currency": "usd"}}, "1": {"quantity": "2"}},
        "expand": {"0": "a", "1": "b"},
        "description": "",
    }


def test_metadata_merges_and_empty_values_unset(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    updated = client.v1.customers.update(customer.id, params={"metadata": {"a": "", "c": "3"}})
    assert updated.to_dict()["metadata"] == {"b": "2", "c": "3"}
    cleared = client.v1.customers.update(customer.id, params={"metadata": ""})
    assert cleared.to_dict()["metadata"] == {}


def test_the_same_idempotency_key_replays_the_first_answer(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    options: Any = {"idempotency_key": "in_0042-attempt-1"}
    first = client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    again = client.v1.customers.create(params={"email": "a@example.com"}, options=options)

    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(fake_stripe.objects("customer")) == 1
    with pytest.raises(stripe.IdempotencyError) as reused:
        client.v1.customers.create(params={"email": "b@example.com"}, options=options)
    assert reused.value.http_status == 400
    assert reused.value.error is not None
    assert reused.value.error.type == "idempotency_error"
    assert len(fake_stripe.objects("customer")) == 1


def test_a_replay_returns_a_saved_error_but_a_validation_failure_saves_nothing(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    options: Any = {"idempotency_key": "key-1"}
    unknown: Any = {"emial": "x"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params=unknown, options=options)
    created = client.v1.customers.create(params={}, options=options)  # the key is still free

    charge_key: Any = {"idempotency_key": "key-2"}
    fake_stripe.decline_next_charge(created.id)
    method = fake_stripe.add_card(created.id)
    params: Any = {
        "amount": 1000,
        "currency": "usd",
        "customer": created.id,
        "payment_method": method["id"],
        "confirm": True,
        "off_session": True,
    }
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(params=params, options=charge_key)
    with pytest.raises(stripe.CardError) as replayed:
        client.v1.payment_intents.create(params=params, options=charge_key)
    assert replayed.value.headers is not None
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert len(fake_stripe.objects("charge")) == 1


def test_idempotency_keys_are_forgotten_after_24_hours(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    options: Any = {"idempotency_key": "payout-7-attempt-1"}
    first = client.v1.customers.create(params={}, options=options)
    fake_stripe.advance_clock(timedelta(hours=23, minutes=59))
    assert client.v1.customers.create(params={}, options=options).id == first.id
    fake_stripe.advance_clock(timedelta(minutes=1))
    later = client.v1.customers.create(params={}, options=options)
    assert later.id != first.id
    assert len(fake_stripe.objects("customer")) == 2
    logged = [(r["idempotency_key"], r["replayed"]) for r in fake_stripe.requests()]
    assert logged == [
        (options["idempotency_key"], False),
        (options["idempotency_key"], True),
        (options["idempotency_key"], False),
    ]


def test_lists_page_newest_first(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    ids = [client.v1.customers.create(params={"name": f"c{n}"}).id for n in range(5)]
    first = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == ids[::-1][:2]
    assert first.has_more
    second = client.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == ids[::-1][2:4]
    before = client.v1.customers.list(params={"limit": 2, "ending_before": second.data[0].id})
    assert [c.id for c in before.data] == [c.id for c in first.data]
    everyone = [c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    assert everyone == ids[::-1]
    with pytest.raises(stripe.InvalidRequestError, match="less than or equal to 100"):
        client.v1.customers.list(params={"limit": 101})


def test_search_reads_metadata_with_stripes_query_language(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    ours = client.v1.customers.create(
        params={"email": "Ops@Aerostack.example", "metadata": {"meterstack_account": "acc_1"}}
    )
    client.v1.customers.create(params={"metadata": {"meterstack_account": "acc_2"}})

    found = client.v1.customers.search(params={"query": "metadata['meterstack_account']:'acc_1'"})
    assert [c.id for c in found.data] == [ours.id]
    assert found.to_dict()["object"] == "search_result"
    by_email = client.v1.customers.search(params={"query": 'email:"ops@aerostack.example"'})
    assert [c.id for c in by_email.data] == [ours.id]
    both = client.v1.customers.search(
        params={
            "query": "metadata['meterstack_account']:'acc_1' OR "
            "metadata['meterstack_account']:'acc_2'",
            "limit": 1,
        }
    )
    assert both.has_more
    assert both.next_page is not None
    rest = client.v1.customers.search(
        params={"query": "-metadata['meterstack_account']:'acc_9'", "page": both.next_page}
    )
    assert len(rest.data) == 1
    with pytest.raises(stripe.InvalidRequestError, match="unsupported search field"):
        client.v1.customers.search(params={"query": "colour:'red'"})


def test_search_can_lag_writes_as_stripes_index_does() -> None:
    with serve(search_delay=timedelta(minutes=1)) as fake:
        client = fake.client()
        client.v1.customers.create(params={"metadata": {"k": "v"}})
        query: Any = {"query": "metadata['k']:'v'"}
        assert client.v1.customers.search(params=query).data == []
        fake.advance_clock(timedelta(minutes=1))
        assert len(client.v1.customers.search(params=query).data) == 1


def test_expand_follows_the_librarys_expandable_fields(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    method = fake_stripe.add_card(customer.id)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method["id"],
            "confirm": True,
            "off_session": True,
            "expand": ["customer", "latest_charge"],
        }
    )
    assert expanded(intent.customer, stripe.Customer).email == "a@example.com"
    assert expanded(intent.latest_charge, stripe.Charge).amount == 2000
    listed = client.v1.payment_intents.list(params={"expand": ["data.customer"]})
    assert expanded(listed.data[0].customer, stripe.Customer).id == customer.id
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        client.v1.payment_intents.retrieve(intent.id, params={"expand": ["amount"]})


def test_keys_versions_and_urls_are_checked(fake_stripe: FakeStripeHandle) -> None:
    wrong = stripe.StripeClient(
        "sk_test_not_this_one", base_addresses={"api": fake_stripe.url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError):
        wrong.v1.customers.list()
    other_version = fake_stripe.client(stripe_version="2024-06-20")
    with pytest.raises(stripe.InvalidRequestError, match=API_VERSION):
        other_version.v1.customers.list()
    unknown = httpx.get(
        f"{fake_stripe.url}/v1/subscriptions_of_the_moon",
        headers={"Authorization": f"Bearer {fake_stripe.api_key}"},
    )
    assert unknown.status_code == 404
    assert "Unrecognized request URL" in unknown.json()["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        fake_stripe.client().v1.customers.retrieve("cus_nobody")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert "No such customer: 'cus_nobody'" in str(missing.value)


def test_events_list_by_type_and_retrieve(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={})
    client.v1.customers.update(customer.id, params={"name": "Aerostack"})
    updated = client.v1.events.list(params={"type": "customer.updated"})
    assert [e.type for e in updated.data] == ["customer.updated"]
    event = client.v1.events.retrieve(updated.data[0].id)
    assert event.data.object["name"] == "Aerostack"
    assert event.to_dict()["data"]["previous_attributes"] == {"name": None}
    assert event.request is not None
    assert event.request.id is not None
    everything = client.v1.events.list(params={"type": "customer.*"})
    assert [e.type for e in everything.data] == ["customer.updated", "customer.created"]
    fake_stripe.advance_clock(timedelta(days=31))
    assert client.v1.events.list().data == []  # Stripe lists the last 30 days
    assert client.v1.events.retrieve(event.id).id == event.id


def test_payment_intents_search_by_metadata(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    reload = client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "metadata": {"meterstack_reload": "rl_1"}}
    )
    client.v1.payment_intents.create(params={"amount": 3000, "currency": "usd"})
    found = client.v1.payment_intents.search(
        params={"query": "metadata['meterstack_reload']:'rl_1' AND amount>=2000"}
    )
    assert [i.id for i in found.data] == [reload.id]
    assert client.v1.payment_intents.search(params={"query": "amount>5000"}).data == []
