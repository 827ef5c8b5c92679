"""Plan changes a customer makes over HTTP, in money (C7, D10, B8, D30): an upgrade checked out
and paid on the local provider, a yearly plan traded for a higher monthly one, a downgrade of a
yearly plan; what ``GET /api/billing`` and the invoices show after each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from meterstack import ManualClock
from meterstack.client import Client

OPERATOR = {"Authorization": "Bearer operator-secret"}


def _customer(client: Any, plan: str, interval: str) -> dict[str, str]:
    return _account(client, plan, interval)[1]


def _account(client: Any, plan: str, interval: str) -> tuple[str, dict[str, str]]:
    created = client.post(
        "/v1/accounts", json={"plan": plan, "interval": interval}, headers=OPERATOR
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], {"Authorization": f"Bearer {body['user_api_key']}"}


def _close(client: Any, clock: ManualClock, *months: datetime) -> None:
    """The operator's close at each of ``months`` (the nightly job)."""
    for month in months:
        clock.set(month)
        closed = client.post("/v1/periods/close", headers=OPERATOR)
        assert closed.status_code == 200, closed.text


def _buy(client: Any, customer: dict[str, str], tier: str, interval: str) -> None:
    """Check out ``tier`` and pay it on the local provider's page, as the customer does."""
    made = client.post(
        "/api/billing/checkout",
        json={"tier": tier, "billing_interval": interval},
        headers=customer,
    )
    assert made.status_code == 200, made.text
    body = made.json()
    secret = parse_qs(urlsplit(body["url"]).query)["secret"][0]
    paid = client.post(f"/billing/checkout/{body['checkout_id']}/pay?secret={secret}")
    assert paid.status_code == 200, paid.text


def _invoices(client: Any, customer: dict[str, str]) -> list[dict[str, Any]]:
    listed = client.get("/api/billing/invoices", headers=customer).json()["invoices"]
    return [
        client.get(f"/api/billing/invoices/{item['number']}", headers=customer).json()
        for item in listed
    ]


def _lines(invoice: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["kind"], line["amount"]) for line in invoice["lines"]]


def test_d10_b8_a_yearly_upgrade_paid_at_checkout_charges_the_rest_of_the_year(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("aerostack")
    customer = _customer(client, "starter", "yearly")  # $171 for 2026
    clock.set(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=182, hours=12))  # halfway

    _buy(client, customer, "pro", "yearly")
    billing = client.get("/api/billing", headers=customer).json()
    invoices = _invoices(client, customer)

    assert (billing["plan_tier"], billing["billing_interval"]) == ("pro", "yearly")
    assert (billing["current_period_start"], billing["current_period_end"]) == (
        "2026-01-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    )
    assert billing["account_credit"] == "0.00"
    opening, upgrade = invoices
    assert _lines(opening) == [("subscription", "171.00")]
    # (441 - 171) x 182.5 / 365 days, collected by the checkout.
    assert (_lines(upgrade), upgrade["total"], upgrade["status"]) == (
        [("proration", "135.00")],
        "135.00",
        "paid",
    )


def test_c7_d10_a_yearly_plan_traded_for_a_higher_monthly_one_keeps_the_unused_year(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("aerostack")
    customer = _customer(client, "pro", "yearly")  # $441 for 2026
    _close(client, clock, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))

    _buy(client, customer, "business", "monthly")  # at month 3: 306 of 365 days unused
    after_change = client.get("/api/billing", headers=customer).json()
    _close(client, clock, datetime(2026, 4, 1, tzinfo=UTC))
    after_april = client.get("/api/billing", headers=customer).json()
    _close(client, clock, datetime(2026, 5, 1, tzinfo=UTC))
    after_may = client.get("/api/billing", headers=customer).json()
    invoices = _invoices(client, customer)
    change = invoices[1]
    pdf = client.get(f"/api/billing/invoices/{change['number']}?format=pdf", headers=customer)

    assert (after_change["plan_tier"], after_change["billing_interval"]) == ("business", "monthly")
    assert (after_change["current_period_start"], after_change["current_period_end"]) == (
        "2026-03-01T00:00:00+00:00",
        "2026-04-01T00:00:00+00:00",
    )
    assert (_lines(change), change["total"], change["status"]) == (
        [
            ("unused_time", "-369.72"),  # 441 x 306 / 365, credited
            ("remaining_time", "149.00"),  # March on Business
            ("account_credit", "220.72"),  # the rest, for the next invoices
        ],
        "0.00",
        "paid",
    )
    assert after_change["account_credit"] == "220.72"
    assert [(_lines(invoice), invoice["total"]) for invoice in invoices[2:]] == [
        ([("subscription", "149.00"), ("account_credit", "-149.00")], "0.00"),
        ([("subscription", "149.00"), ("account_credit", "-71.72")], "77.28"),
    ]
    assert (after_april["account_credit"], after_may["account_credit"]) == ("71.72", "0.00")
    assert all(
        sum((Decimal(line["amount"]) for line in invoice["lines"]), Decimal(0))
        == Decimal(invoice["total"])
        for invoice in invoices
    )
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")


def test_c7_d30_a_yearly_plan_downgraded_to_a_cheaper_monthly_one_waits_for_the_year(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("aerostack")
    customer = _customer(client, "pro", "yearly")
    clock.set(datetime(2026, 6, 10, tzinfo=UTC))

    downgraded = client.post(
        "/api/billing/downgrade",
        json={"tier": "starter", "billing_interval": "monthly"},
        headers=customer,
    )
    june = client.get("/api/billing", headers=customer).json()
    invoices_before = _invoices(client, customer)
    _close(client, clock, datetime(2026, 7, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    january = client.get("/api/billing", headers=customer).json()
    invoices_after = _invoices(client, customer)

    assert downgraded.status_code == 200, downgraded.text
    assert downgraded.json() == {
        "success": True,
        "plan": "pro",
        "pending_plan": "starter",
        "billing_interval": "monthly",
        "effective_at": "2027-01-01T00:00:00+00:00",
    }
    assert (june["plan_tier"], june["pending_plan"]) == ("pro", "starter")
    assert june["current_period_end"] == "2027-01-01T00:00:00+00:00"
    assert len(invoices_before) == 1  # nothing charged or credited: not prorated (C7)
    assert (january["plan_tier"], january["billing_interval"]) == ("starter", "monthly")
    assert january["current_period_end"] == "2027-02-01T00:00:00+00:00"
    # The months of the paid year charge nothing; January is Starter's, billed in advance.
    assert [_lines(invoice) for invoice in invoices_after[1:]] == [[("subscription", "19.00")]]


def test_c7_d10_the_operator_moving_a_yearly_plan_to_a_higher_monthly_one_credits_the_year(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("aerostack")
    account_id, customer = _account(client, "pro", "yearly")
    _close(client, clock, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))

    moved = client.post(
        f"/v1/accounts/{account_id}/subscription",
        json={"plan": "business", "interval": "monthly"},
        headers=OPERATOR,
    )
    seen_by_operator = client.get(f"/v1/accounts/{account_id}", headers=OPERATOR).json()
    with Client(str(client.base_url), customer["Authorization"].removeprefix("Bearer ")) as sdk:
        seen_by_sdk = sdk.billing()

    assert moved.status_code == 200, moved.text
    invoice = moved.json()["invoice"]
    assert moved.json()["immediate"] is True
    assert (_lines(invoice), invoice["total"], invoice["status"]) == (
        [
            ("unused_time", "-369.72"),
            ("remaining_time", "149.00"),
            ("account_credit", "220.72"),
        ],
        "0.00",
        "finalized",
    )
    assert seen_by_operator["account_credit"] == "220.72"
    assert seen_by_sdk.account_credit == Decimal("220.72")
