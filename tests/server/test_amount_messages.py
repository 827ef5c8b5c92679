"""Refusals write amounts as a person writes them (``-1``, ``1000000000000``), never as a Python
repr (``Decimal('-1')``), and refuse before anything changes, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from meterstack import Engine
from meterstack.errors import InvalidInputError

OPERATOR = {"Authorization": "Bearer operator-secret"}
TOO_MUCH = "10000000000000"


def _refusal(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    message: str = answer.json()["error"]["message"]
    assert "Decimal(" not in answer.text, answer.text
    return message


def test_amount_bounds_in_rest_refusals_read_as_plain_numbers(
    live_service: Callable[..., Any], signup: Callable[[Any, str], tuple[str, dict[str, str]]]
) -> None:
    service = live_service("aerostack")
    engine: Engine = service.app.state.engine
    account, customer = signup(service, "starter")
    base = f"/v1/accounts/{account}"
    for path, body, headers, words in (
        (
            "/api/billing/wallet/deposit",
            {"amount": TOO_MUCH},
            customer,
            "amount: Input should be less than or equal to 1000000000000",
        ),
        (
            f"{base}/wallet/adjust",
            {"amount": f"-{TOO_MUCH}", "reason": "x"},
            OPERATOR,
            "amount: Input should be greater than or equal to -1000000000000",
        ),
        (
            "/api/billing/budget",
            {"amount": TOO_MUCH, "mode": "soft"},
            customer,
            "amount: Input should be less than or equal to 1000000000000",
        ),
        (
            "/v1/wallet/deposits/led_nothing/refund",
            {"amount": "0"},
            OPERATOR,
            "amount: Input should be greater than 0",
        ),
    ):
        method = "PUT" if path.endswith("/budget") else "POST"
        assert _refusal(service.request(method, path, json=body, headers=headers)) == words, path
    charged = service.post(
        f"{base}/wallet/charge",
        json={"operation": "bot_message", "max_price": "-1"},
        headers=OPERATOR,
    )
    assert _refusal(charged).endswith("got -1")
    assert engine.wallet(account).balance == Decimal(0)
    assert engine.budget(account).amount is None


def test_max_price_refusal_from_python_names_the_amount_as_written(
    open_engine: Callable[..., Engine],
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter")
    with pytest.raises(InvalidInputError) as refused:
        engine.charge(account.id, "bot_message", max_price=Decimal("-1.50"))
    assert refused.value.message.endswith("got -1.50")
    assert "Decimal(" not in refused.value.message
