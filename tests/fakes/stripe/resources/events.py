"""Events (list, retrieve) and webhook endpoints (where the fake delivers them)."""

from __future__ import annotations

import secrets

from stripe.params import (
    EventListParams,
    EventRetrieveParams,
    WebhookEndpointCreateParams,
    WebhookEndpointDeleteParams,
    WebhookEndpointListParams,
    WebhookEndpointRetrieveParams,
    WebhookEndpointUpdateParams,
)

from .. import listing
from ..routing import Call, Params, Routes
from ..state import API_VERSION, JsonObject, State, merge_metadata, new_id, private

routes = Routes()
#: Stripe guarantees the event list for 30 days.
EVENT_RETENTION_SECONDS = 30 * 24 * 60 * 60


@routes.add("get", "/v1/events", EventListParams)
def list_events(call: Call, params: Params) -> JsonObject:
    oldest = call.state.clock.now() - EVENT_RETENTION_SECONDS
    filters = [lambda e: e["created"] >= oldest]
    if "type" in params:
        pattern = params["type"]
        if pattern.endswith("*"):
            filters.append(lambda e: e["type"].startswith(pattern[:-1]))
        else:
            filters.append(lambda e: e["type"] == pattern)
    if "types" in params:
        filters.append(lambda e: e["type"] in params["types"])
    if "delivery_success" in params:
        filters.append(lambda e: (e["pending_webhooks"] == 0) == params["delivery_success"])
    return listing.list_object(call.state.all("event"), params, "/v1/events", filters)


routes.retrieve("/v1/events/{id}", EventRetrieveParams, "event")


def new_endpoint(
    state: State,
    url: str,
    events: list[str],
    *,
    connect: bool = False,
    description: str | None = None,
    metadata: Params | None = None,
) -> JsonObject:
    endpoint: JsonObject = {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": API_VERSION,
        "application": None,
        "created": state.clock.now(),
        "description": description,
        "enabled_events": events,
        "livemode": False,
        "metadata": merge_metadata({}, metadata or {}),
        "status": "enabled",
        "url": url,
    }
    state.add(endpoint)
    private(endpoint).update(secret=f"whsec_{secrets.token_urlsafe(24)}", connect=connect)
    return endpoint


@routes.add("post", "/v1/webhook_endpoints", WebhookEndpointCreateParams)
def create_endpoint(call: Call, params: Params) -> JsonObject:
    endpoint = new_endpoint(
        call.state,
        params["url"],
        params["enabled_events"],
        connect=params.get("connect", False),
        description=params.get("description"),
        metadata=params.get("metadata"),
    )
    # The secret is in the answer to the creation only, as on Stripe.
    return endpoint | {"secret": private(endpoint)["secret"]}


routes.retrieve(
    "/v1/webhook_endpoints/{webhook_endpoint}", WebhookEndpointRetrieveParams, "webhook_endpoint"
)


@routes.add("post", "/v1/webhook_endpoints/{webhook_endpoint}", WebhookEndpointUpdateParams)
def update_endpoint(call: Call, params: Params) -> JsonObject:
    endpoint = call.state.get(call.ids["webhook_endpoint"], "webhook_endpoint")
    for name in ("url", "enabled_events", "description"):
        if name in params:
            endpoint[name] = params[name] or None
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    return endpoint


@routes.add("delete", "/v1/webhook_endpoints/{webhook_endpoint}", WebhookEndpointDeleteParams)
def delete_endpoint(call: Call, params: Params) -> JsonObject:
    endpoint = call.state.get(call.ids["webhook_endpoint"], "webhook_endpoint")
    endpoint["deleted"] = True
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


routes.list("/v1/webhook_endpoints", WebhookEndpointListParams, "webhook_endpoint")
