"""Connect for a marketplace: Express accounts, onboarding links, and transfers to them.

A new Express account can take no transfer until its owner finishes onboarding (the control
API's ``complete_onboarding``), which turns its requested capabilities ``active`` and sends
``account.updated`` to the Connect webhook endpoints. A transfer to an account without an active
``transfers`` capability is refused as Stripe refuses it. The platform's balance is not modelled:
a transfer never fails for lack of funds.
"""

from __future__ import annotations

import secrets

from stripe.params import (
    AccountCreateParams,
    AccountLinkCreateParams,
    AccountListParams,
    AccountRetrieveParams,
    AccountUpdateParams,
    TransferCreateParams,
    TransferListParams,
    TransferRetrieveParams,
    TransferUpdateParams,
)

from .. import listing
from ..errors import invalid, missing_parameter
from ..routing import Call, Params, Routes
from ..state import JsonObject, Origin, State, merge_metadata, new_id

routes = Routes()
_ONBOARDING_FIELDS = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
]


def _requirements(due: list[str]) -> JsonObject:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


@routes.add("post", "/v1/accounts", AccountCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    account_type = params.get("type", "express")
    if account_type != "express":
        raise invalid("The fake Stripe serves Express accounts only.", param="type")
    requested = [
        name for name, ask in params.get("capabilities", {}).items() if ask.get("requested")
    ]
    profile = params.get("business_profile", {})
    account: JsonObject = {
        "id": new_id("acct", 16),
        "object": "account",
        "business_profile": {
            "mcc": profile.get("mcc"),
            "name": profile.get("name"),
            "product_description": profile.get("product_description"),
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": profile.get("url"),
        },
        "business_type": params.get("business_type"),
        "capabilities": dict.fromkeys(requested, "inactive"),
        "charges_enabled": False,
        "controller": {
            "fees": {"payer": "application"},
            "is_controller": True,
            "losses": {"payments": "application"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": "express"},
            "type": "application",
        },
        "country": params.get("country", "US"),
        "created": call.state.clock.now(),
        "default_currency": params.get("default_currency", "usd"),
        "details_submitted": False,
        "email": params.get("email"),
        "external_accounts": listing.embedded_list([], "/v1/accounts/external_accounts"),
        "future_requirements": _requirements([]),
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "payouts_enabled": False,
        "requirements": _requirements(_ONBOARDING_FIELDS),
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "express",
    }
    call.state.add(account)
    return account


routes.retrieve("/v1/accounts/{account}", AccountRetrieveParams, "account")


@routes.add("post", "/v1/accounts/{account}", AccountUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    account = call.state.get(call.ids["account"], "account")
    previous: JsonObject = {}
    if "metadata" in params:
        previous["metadata"] = account["metadata"]
        account["metadata"] = merge_metadata(account["metadata"], params["metadata"])
    if "email" in params:
        previous["email"] = account["email"]
        account["email"] = params["email"] or None
    call.emit("account.updated", account, previous=previous, account=account["id"])
    return account


routes.list("/v1/accounts", AccountListParams, "account")


def complete_onboarding(state: State, account_id: str) -> JsonObject:
    """The account's owner finishes Stripe's hosted onboarding."""
    account = state.get(account_id, "account")
    previous = {
        name: account[name]
        for name in (
            "capabilities",
            "charges_enabled",
            "details_submitted",
            "payouts_enabled",
            "requirements",
        )
    }
    account.update(
        capabilities=dict.fromkeys(account["capabilities"], "active"),
        charges_enabled=True,
        details_submitted=True,
        payouts_enabled=True,
        requirements=_requirements([]),
        tos_acceptance={"date": state.clock.now(), "ip": "127.0.0.1", "user_agent": "fake"},
    )
    state.emit("account.updated", account, Origin(), previous=previous, account=account_id)
    return account


@routes.add("post", "/v1/account_links", AccountLinkCreateParams)
def create_link(call: Call, params: Params) -> JsonObject:
    account = call.state.get(params["account"], "account", param="account")
    if params["type"] == "account_update":
        raise invalid(
            "You cannot create `account_update` type Account Links for Express accounts.",
            param="type",
        )
    now = call.state.clock.now()
    token = secrets.token_urlsafe(16)
    return {
        "object": "account_link",
        "created": now,
        "expires_at": now + 300,
        "url": f"{call.state.base_url}/setup/e/{account['id']}/{token}",
    }


@routes.add("post", "/v1/transfers", TransferCreateParams)
def create_transfer(call: Call, params: Params) -> JsonObject:
    if "amount" not in params:
        raise missing_parameter("amount")
    destination = call.state.get(params["destination"], "account", param="destination")
    if destination["capabilities"].get("transfers") != "active":
        raise invalid(
            "Your destination account needs to have at least one of the following "
            "capabilities enabled: transfers, crypto_transfers, legacy_payments",
            param="destination",
            code="insufficient_capabilities_for_transfer",
        )
    if params["amount"] <= 0:
        raise invalid("Amount must be at least 1.", param="amount", code="amount_too_small")
    transfer_id = new_id("tr")
    transfer: JsonObject = {
        "id": transfer_id,
        "object": "transfer",
        "amount": params["amount"],
        "amount_reversed": 0,
        "balance_transaction": new_id("txn"),
        "created": call.state.clock.now(),
        "currency": params["currency"].lower(),
        "description": params.get("description"),
        "destination": destination["id"],
        "destination_payment": new_id("py"),
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "reversals": listing.embedded_list([], f"/v1/transfers/{transfer_id}/reversals"),
        "reversed": False,
        "source_transaction": params.get("source_transaction"),
        "source_type": params.get("source_type", "card"),
        "transfer_group": params.get("transfer_group"),
    }
    call.state.add(transfer)
    call.emit("transfer.created", transfer)
    return transfer


routes.retrieve("/v1/transfers/{transfer}", TransferRetrieveParams, "transfer")


@routes.add("post", "/v1/transfers/{transfer}", TransferUpdateParams)
def update_transfer(call: Call, params: Params) -> JsonObject:
    transfer = call.state.get(call.ids["transfer"], "transfer")
    if "metadata" in params:
        transfer["metadata"] = merge_metadata(transfer["metadata"], params["metadata"])
    if "description" in params:
        transfer["description"] = params["description"] or None
    call.emit("transfer.updated", transfer)
    return transfer


routes.list("/v1/transfers", TransferListParams, "transfer", "destination", "transfer_group")
