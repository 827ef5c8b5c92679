"""Billing portal configurations and sessions.

A configuration says what the customer may do in the portal; the fake stores the features as
Stripe returns them (every feature present, the unrequested ones disabled). Configurations made
through the API are never the account's default (that one is set in the Dashboard), so a portal
session must name its configuration, as it must on a fresh Stripe account.
"""

from __future__ import annotations

from typing import Any

from stripe.params.billing_portal import (
    ConfigurationCreateParams,
    ConfigurationListParams,
    ConfigurationRetrieveParams,
    ConfigurationUpdateParams,
    SessionCreateParams,
)

from .. import listing
from ..errors import invalid, missing_parameter
from ..routing import Call, Params, Routes
from ..state import JsonObject, merge_metadata, new_id

routes = Routes()


def _features(requested: Params, current: JsonObject | None = None) -> JsonObject:
    defaults: JsonObject = current or {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "feedback_options": None, "options": []},
            "enabled": False,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        "subscription_pause": {
            "duration": {"interval_options": [], "type": "indefinite"},
            "enabled": False,
        },
        "subscription_update": {
            "billing_cycle_anchor": None,
            "default_allowed_updates": [],
            "enabled": False,
            "products": [],
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }
    return {name: _merge(value, requested.get(name, {})) for name, value in defaults.items()}


def _merge(current: Any, update: Any) -> Any:
    if isinstance(current, dict) and isinstance(update, dict):
        return {
            key: _merge(value, update.get(key, value))
            if isinstance(value, dict)
            else (update.get(key, value))
            for key, value in current.items()
        }
    return update


@routes.add("post", "/v1/billing_portal/configurations", ConfigurationCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    now = call.state.clock.now()
    profile = params.get("business_profile", {})
    configuration: JsonObject = {
        "id": new_id("bpc"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {
            name: profile.get(name)
            for name in ("headline", "privacy_policy_url", "terms_of_service_url")
        },
        "created": now,
        "default_return_url": params.get("default_return_url"),
        "features": _features(params["features"]),
        "is_default": False,
        "livemode": False,
        "login_page": {"enabled": bool(params.get("login_page", {}).get("enabled")), "url": None},
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params.get("name"),
        "updated": now,
    }
    call.state.add(configuration)
    call.emit("billing_portal.configuration.created", configuration)
    return configuration


routes.retrieve(
    "/v1/billing_portal/configurations/{configuration}",
    ConfigurationRetrieveParams,
    "billing_portal.configuration",
)


@routes.add("post", "/v1/billing_portal/configurations/{configuration}", ConfigurationUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    configuration = call.state.get(call.ids["configuration"], "billing_portal.configuration")
    if "features" in params:
        configuration["features"] = _features(params["features"], configuration["features"])
    if "metadata" in params:
        configuration["metadata"] = merge_metadata(configuration["metadata"], params["metadata"])
    for name in ("active", "default_return_url", "name"):
        if name in params:
            configuration[name] = params[name] if params[name] != "" else None
    configuration["updated"] = call.state.clock.now()
    call.emit("billing_portal.configuration.updated", configuration)
    return configuration


@routes.add("get", "/v1/billing_portal/configurations", ConfigurationListParams)
def list_configurations(call: Call, params: Params) -> JsonObject:
    filters = listing.matching(params, "active", "is_default")
    return listing.list_object(
        call.state.all("billing_portal.configuration"),
        params,
        "/v1/billing_portal/configurations",
        filters,
    )


@routes.add("post", "/v1/billing_portal/sessions", SessionCreateParams)
def create_session(call: Call, params: Params) -> JsonObject:
    if "customer" not in params:
        raise missing_parameter("customer")
    customer = call.state.get(params["customer"], "customer", param="customer")
    configuration = _configuration(call, params.get("configuration"))
    if not configuration["active"]:
        raise invalid("The configuration is inactive.", param="configuration")
    session_id = new_id("bps")
    session: JsonObject = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": configuration["id"],
        "created": call.state.clock.now(),
        "customer": customer["id"],
        "flow": None,
        "livemode": False,
        "locale": params.get("locale"),
        "on_behalf_of": None,
        "return_url": params.get("return_url") or configuration["default_return_url"],
        "url": f"{call.state.base_url}/p/session/{session_id}",
    }
    return call.state.add(session)


def _configuration(call: Call, configuration_id: str | None) -> JsonObject:
    if configuration_id is not None:
        return call.state.get(
            configuration_id, "billing_portal.configuration", param="configuration"
        )
    for configuration in call.state.all("billing_portal.configuration"):
        if configuration["is_default"]:
            return configuration
    raise invalid(
        "No configuration provided and your test mode default configuration has not been "
        "created. Provide a configuration or create your default by saving your customer "
        "portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.",
        param="configuration",
    )
