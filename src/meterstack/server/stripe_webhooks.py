"""Stripe's door: ``POST /webhooks/stripe`` receives the account's webhook deliveries (B11).

The caller is Stripe, known by the ``Stripe-Signature`` header rather than a key, and the body
is read raw: the signature is over its exact bytes. A delivery whose signature does not verify
(or was made too long ago) is 400 ``invalid_signature`` and changes nothing; every verified
event is acknowledged with 200, the ones meterstack does not use included, so that Stripe stops
sending it. The route is not part of the API's OpenAPI document: its contract is Stripe's
(docs/payments.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from meterstack.server.auth import EngineDep, settings_of
from meterstack.server.contract import BodyTooLargeError

router = APIRouter(include_in_schema=False)


class StripeReceiptOut(BaseModel):
    received: bool
    event_id: str
    type: str
    #: Whether meterstack acts on events of this type.
    used: bool
    #: Whether this delivery changed anything (False for a repeat or a pending outcome).
    applied: bool


@router.post("/webhooks/stripe", response_model=StripeReceiptOut)
async def stripe_webhook(request: Request, engine: EngineDep) -> StripeReceiptOut:
    limit = settings_of(request).max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(f"the request body is larger than {limit} bytes", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"the request body is larger than {limit} bytes", limit=limit)
        chunks.append(chunk)
    signature = request.headers.get("stripe-signature")
    receipt = await run_in_threadpool(engine.receive_stripe_webhook, b"".join(chunks), signature)
    return StripeReceiptOut(
        received=True,
        event_id=receipt.event_id,
        type=receipt.type,
        used=receipt.used,
        applied=receipt.applied,
    )
