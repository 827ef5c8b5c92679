"""Inline prices: what ``price_data`` in a checkout line or an invoice line makes.

Stripe turns ``price_data`` into a one-time Price of an inline product (from ``product_data``).
The fake builds the Price object the line carries but serves no Price or Product endpoints, so a
``product`` id (which would have to name an existing Product) is refused as missing.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ..errors import invalid
from ..routing import Params
from ..state import JsonObject, State, new_id


def inline_price(state: State, data: Params, where: str) -> JsonObject:
    if "product" in data:
        raise invalid(
            f"No such product: '{data['product']}'",
            param=f"{where}[product]",
            code="resource_missing",
        )
    if "product_data" not in data:
        raise invalid(
            f"You must specify either `product` or `product_data` in `{where}`.",
            param=f"{where}[product_data]",
            code="parameter_missing",
        )
    if "unit_amount" in data:
        unit = Decimal(data["unit_amount"])
    elif "unit_amount_decimal" in data:
        unit = Decimal(data["unit_amount_decimal"])
    else:
        raise invalid(
            f"You must specify either `unit_amount` or `unit_amount_decimal` in `{where}`.",
            param=f"{where}[unit_amount]",
            code="parameter_missing",
        )
    return {
        "id": new_id("price"),
        "object": "price",
        "active": False,
        "billing_scheme": "per_unit",
        "created": state.clock.now(),
        "currency": data["currency"].lower(),
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": new_id("prod", 14),
        "recurring": None,
        "tax_behavior": data.get("tax_behavior", "unspecified"),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": int(unit) if unit == unit.to_integral_value() else None,
        "unit_amount_decimal": str(unit),
    }


def line_amount(price: JsonObject, quantity: int) -> int:
    """The amount of a line, in the currency's minor unit (yen for JPY: no decimals)."""
    total = Decimal(price["unit_amount_decimal"]) * quantity
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def product_name(data: Params) -> str | None:
    product: Params = data.get("product_data", {})
    name: str | None = product.get("name")
    return name
